// Package deploy holds the gateway's Kubernetes manifests (a kustomize base
// and one overlay per Microsoft cloud) and the APS package description. Its
// tests render every overlay with the kustomize Go API, decode each object
// strictly into its Kubernetes type (cert-manager's into structs of the
// tests' own), check the production rules and evaluate the network
// policies. It is a module of its own so that the Kubernetes libraries never
// reach the services.
package deploy

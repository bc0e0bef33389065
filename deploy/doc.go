// Package deploy holds the gateway's Kubernetes manifests (a kustomize base
// and one overlay per Microsoft cloud) and the APS package description. Its
// tests render every overlay with the kustomize Go API, decode each object
// strictly into its Kubernetes type and check the production rules. It is a
// module of its own so that the Kubernetes libraries never reach the
// services.
package deploy

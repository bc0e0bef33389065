// Package sdkcheck drives the Microsoft cloud simulator with Microsoft's own
// Graph SDK for Go (github.com/microsoftgraph/msgraph-sdk-go) and azidentity,
// as a customer's tools would: the SDK gzips request bodies, annotates them
// with @odata.type and parses answers with its generated models, so what
// the simulator accepts and answers is checked against a real client.
//
// It is a module of its own because the SDK is very large: nothing else in
// the workspace compiles it; `make test-unit` and `make lint` do.
package sdkcheck

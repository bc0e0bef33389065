// Package mscloud is an in-memory simulator of the Microsoft cloud the
// gateway talks to: the Microsoft Entra token endpoint, Partner Center REST
// and Microsoft Graph (users, licenses, subscribed SKUs and domains of the
// customer tenants; GDAP relationships and the partner's application in
// the partner tenant), plus an admin API (/_sim/) for tests and operators.
//
// Start one with New and serve its Handler; NewTLS or LoadOrCreateTLS give
// it a certificate authority the clients can trust, and the mscloudtest
// package runs one for tests.
//
// What the simulator does, API by API (routes, checks, error codes, the
// choices it makes where Microsoft's documentation is silent, faults and
// the admin API), is described in BEHAVIOUR.md beside this file, together
// with how the code is split into parts (Entra, Partner Center, Graph),
// each with its own state and lock, and the order in which those locks
// are taken (lockorder.go).
package mscloud

// Package bench holds the gateway's benchmarks: the durable job queue on
// SQLite, and the facade under load through the real binaries (set
// O365GW_BIN, as `make bench` does). Figures are reported, never asserted:
// the build machines are shared and noisy.
package bench

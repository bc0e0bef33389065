// Package telemetrytest reads back the metrics code records, for tests. The
// first call installs a global meter provider with a manual reader for the
// rest of the test binary; instruments made from the global provider before
// it (package-level ones) are delegated to it as well. Values accumulate
// over the binary's tests, so a test compares before and after.
package telemetrytest

import (
	"context"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

var reader = sync.OnceValue(func() *sdkmetric.ManualReader {
	r := sdkmetric.NewManualReader()
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)))
	return r
})

// Install sets the global meter provider up; every other function of the
// package calls it too.
func Install() { reader() }

// Point is one series of a metric.
type Point struct {
	Attrs map[string]string
	// Value is a counter's or a gauge's value, a histogram's count.
	Value float64
	// Sum is a histogram's sum of observations.
	Sum float64
	// Bounds are a histogram's bucket bounds.
	Bounds []float64
}

// Points collects the metrics now and returns the series of name.
func Points(t testing.TB, name string) []Point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader().Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect metrics: %v", err)
	}
	var out []Point
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				out = append(out, points(m.Data)...)
			}
		}
	}
	return out
}

// Value is the sum of the values (histograms: counts) of the series of name
// whose attributes include attrs, given as key, value, key, value, ….
func Value(t testing.TB, name string, attrs ...string) float64 {
	t.Helper()
	total := 0.0
	for _, p := range Points(t, name) {
		if p.Has(attrs...) {
			total += p.Value
		}
	}
	return total
}

// Has tells whether p's attributes include attrs (key, value, …).
func (p Point) Has(attrs ...string) bool {
	for i := 0; i+1 < len(attrs); i += 2 {
		if v, ok := p.Attrs[attrs[i]]; !ok || v != attrs[i+1] {
			return false
		}
	}
	return true
}

func points(data metricdata.Aggregation) []Point {
	var out []Point
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			out = append(out, Point{Attrs: attrs(dp.Attributes.ToSlice()), Value: float64(dp.Value)})
		}
	case metricdata.Sum[float64]:
		for _, dp := range d.DataPoints {
			out = append(out, Point{Attrs: attrs(dp.Attributes.ToSlice()), Value: dp.Value})
		}
	case metricdata.Gauge[int64]:
		for _, dp := range d.DataPoints {
			out = append(out, Point{Attrs: attrs(dp.Attributes.ToSlice()), Value: float64(dp.Value)})
		}
	case metricdata.Gauge[float64]:
		for _, dp := range d.DataPoints {
			out = append(out, Point{Attrs: attrs(dp.Attributes.ToSlice()), Value: dp.Value})
		}
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			out = append(out, Point{Attrs: attrs(dp.Attributes.ToSlice()), Value: float64(dp.Count), Sum: dp.Sum, Bounds: dp.Bounds})
		}
	case metricdata.Histogram[int64]:
		for _, dp := range d.DataPoints {
			out = append(out, Point{Attrs: attrs(dp.Attributes.ToSlice()), Value: float64(dp.Count), Sum: float64(dp.Sum), Bounds: dp.Bounds})
		}
	}
	return out
}

func attrs(kvs []attribute.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

package engine

import (
	"context"
	"fmt"
	"testing"

	"github.com/bake-tool/bake/internal/redact"
	"github.com/bake-tool/bake/ui"
)

// BenchmarkProvisionerStep measures the engine's own cost of one
// provisioner step (events, redaction, timing, retries bookkeeping) with a
// provisioner that does nothing. Target: well under 5 ms per step.
func BenchmarkProvisionerStep(b *testing.B) {
	h := &harness{}
	noop := func(context.Context, ui.UI) error { return nil }
	const steps = 100
	var provs []*ProvisionerStep
	for i := 0; i < steps; i++ {
		provs = append(provs, provStep("noop", noop))
	}
	redactor := redact.New([]string{"secret-value-1", "secret-value-2"})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.events = h.events[:0]
		res := Run(context.Background(), []*Job{h.job("a", 0, nil, provs...)}, Options{Sink: h.sink, Redactor: redactor})
		if res[0].Err != nil {
			b.Fatal(res[0].Err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*steps)/1e3, "µs/step")
}

// BenchmarkParallelBuilds measures a whole run of N no-op builds with no
// parallelism limit; ns/build should stay flat as N grows (linear total).
func BenchmarkParallelBuilds(b *testing.B) {
	for _, n := range []int{10, 50, 200} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			h := &harness{}
			noop := func(context.Context, ui.UI) error { return nil }
			var jobs []*Job
			for i := 0; i < n; i++ {
				jobs = append(jobs, h.job(fmt.Sprint("b", i), 0, nil, provStep("noop", noop)))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.events = h.events[:0]
				Run(context.Background(), jobs, Options{Sink: h.sink})
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1e3, "µs/build")
		})
	}
}

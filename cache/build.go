package cache

import (
	"context"
	"sync"

	"github.com/bake-tool/bake/provisioners"
)

// Step statuses in a Record.
const (
	StatusRun    = "run"
	StatusReused = "reused"
	StatusNotRun = "not-run" // the build stopped before it
)

// Record says what became of one provisioner step: run, or reused from the
// cache, with the key and the run that produced it.
type Record struct {
	Step   string `json:"step"`
	Status string `json:"status"`
	Key    Key    `json:"key,omitempty"`
	// RunID is, for a reused step, the run that produced the entry.
	RunID string `json:"runId,omitempty"`
}

// StepKey is a provisioner step's label and chained key (zero: not
// cacheable).
type StepKey struct {
	Label string
	Key   Key
}

// AfterStep is called by the engine after provisioner i ran, so that the
// builder can store the machine's state under key.
type AfterStep func(ctx context.Context, i int, key Key) error

// Build is one build's view of the cache, handed to its builder through
// builder.Options.Cache (nil: no cache, -no-cache). The engine fills in
// Store, RunID, Name and StepKeys; the builder computes its base key,
// asks Keys for the step keys, finds the longest prefix it holds, and
// calls Resume before it runs the provisioners (or Reused for every step
// when it reuses the whole build).
type Build struct {
	Store *Store
	RunID string
	// Name is the build's "type.name".
	Name string
	// StepKeys returns the key of each provisioner chained from base, with
	// the provisioners evaluated for info.
	StepKeys func(base Key, info provisioners.BuildInfo) ([]StepKey, error)

	mu      sync.Mutex
	final   Key
	whole   bool
	from    int
	after   AfterStep
	records []Record
}

// Keys returns the step keys for base (see StepKeys), and sets up the
// build's records: every step "not-run" until Ran or Reused.
func (b *Build) Keys(base Key, info provisioners.BuildInfo) ([]StepKey, error) {
	keys, err := b.StepKeys(base, info)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.records = make([]Record, len(keys))
	for i, k := range keys {
		b.records[i] = Record{Step: k.Label, Status: StatusNotRun, Key: k.Key}
	}
	return keys, nil
}

// Resume tells the engine to start at provisioner from (the ones before
// are in the machine already) and to call after once each later one ran.
func (b *Build) Resume(from int, after AfterStep) {
	b.mu.Lock()
	b.from, b.after = from, after
	b.mu.Unlock()
}

// Resumed returns what Resume set.
func (b *Build) Resumed() (from int, after AfterStep) {
	if b == nil {
		return 0, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.from, b.after
}

// Reused records that step i was not run: its state came from e.
func (b *Build) Reused(i int, e *Entry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i < len(b.records) {
		b.records[i].Status = StatusReused
		b.records[i].Key = e.Key
		b.records[i].RunID = e.RunID
	}
}

// SetFinal records the key of the build's whole result (zero: none), and
// whether that result was reused whole, with no step run: the engine then
// keeps, beside it, what it learnt from the machine (its package
// inventory) to hand out again on reuse.
func (b *Build) SetFinal(k Key, reused bool) {
	b.mu.Lock()
	b.final, b.whole = k, reused
	b.mu.Unlock()
}

// Final returns what SetFinal recorded.
func (b *Build) Final() (k Key, reused bool) {
	if b == nil {
		return "", false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.final, b.whole
}

// Ran records that step i ran.
func (b *Build) Ran(i int) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if i < len(b.records) {
		b.records[i].Status = StatusRun
		b.records[i].RunID = ""
	}
}

// Records returns what became of each step; nil when the builder never
// asked for keys.
func (b *Build) Records() []Record {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Record(nil), b.records...)
}

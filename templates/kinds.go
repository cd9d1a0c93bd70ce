package templates

import (
	"context"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Config is a decoded block of one kind (a source, provisioner,
// post-processor or data source). Its fields carry `hcl` struct tags that
// Decode reads; see Decode for the tag language.
type Config interface {
	// Prepare checks the decoded values together (required options,
	// conflicts, enums, defaults) and fills defaults in. Every problem is
	// appended as a diagnostic pointing at the attribute through b, and
	// Prepare carries on so that the user sees all problems at once.
	// Attributes whose value was unknown at decode time (b.Unknown) are
	// left alone.
	Prepare(b *Body) hcl.Diagnostics
}

// Kind describes one kind of block a template may use.
type Kind struct {
	// New returns a zero Config to decode into.
	New func() Config
	// Tests, for a source kind, says that its builder can start a machine
	// from its artifact for the build's test blocks.
	Tests bool
}

// DataKind describes one kind of data source.
type DataKind struct {
	Kind
	// Type is the object type of the data source's result, used when the
	// data source is not executed (validate) so that references type-check.
	Type cty.Type
	// Execute computes the data source's value from its config.
	Execute func(ctx context.Context, cfg Config) (cty.Value, error)
}

// Kinds is the set of block kinds a loader accepts. templates knows no kind
// itself: the engine hands it this table, built from the builder,
// provisioner and post-processor packages.
type Kinds struct {
	Sources        map[string]Kind
	Provisioners   map[string]Kind
	PostProcessors map[string]Kind
	DataSources    map[string]DataKind
}

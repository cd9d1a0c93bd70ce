package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/ui"
)

// ppStep is a post-processor step: fail, when set, is its error; else it
// makes "<input>><name>", whose Destroy is recorded in destroyed.
func ppStep(name string, fail error, keep bool, destroyed *sync.Map) *PostProcessorStep {
	return &PostProcessorStep{Type: "pp", Name: name, KeepInput: keep, Make: func(provisioners.BuildInfo) (artifacts.PostProcessor, error) {
		return ppErrFunc(func(ctx context.Context, in *artifacts.Artifact) (*artifacts.Artifact, error) {
			if fail != nil {
				return nil, fail
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			id := in.ID + ">" + name
			return &artifacts.Artifact{Builder: "pp", ID: id,
				Destroy: func(context.Context) error { destroyed.Store(id, true); return nil }}, nil
		}), nil
	}}
}

type ppErrFunc func(ctx context.Context, in *artifacts.Artifact) (*artifacts.Artifact, error)

func (f ppErrFunc) PostProcess(ctx context.Context, _ ui.UI, in *artifacts.Artifact) (*artifacts.Artifact, bool, error) {
	out, err := f(ctx, in)
	return out, false, err
}

// TestFailedPostProcessorListsWhatRemains: a failed post-processor keeps
// the builder's artifact, as Packer does, and the build's result lists it
// with every other artifact the build made that is still in place, so
// that the manifest and the summary can say what may remain.
func TestFailedPostProcessorListsWhatRemains(t *testing.T) {
	boom := errors.New("exit status 1")
	for _, tc := range []struct {
		name   string
		chains func(d *sync.Map) [][]*PostProcessorStep
		want   string // the result's artifact ids
	}{
		{"one chain fails at once", func(d *sync.Map) [][]*PostProcessorStep {
			return [][]*PostProcessorStep{{ppStep("x", boom, false, d)}}
		}, "art-a"},
		{"a chain fails after an intermediate", func(d *sync.Map) [][]*PostProcessorStep {
			return [][]*PostProcessorStep{{ppStep("tag", nil, false, d), ppStep("push", boom, false, d)}}
		}, "art-a,art-a>tag"},
		{"one chain succeeds, the other fails", func(d *sync.Map) [][]*PostProcessorStep {
			return [][]*PostProcessorStep{{ppStep("compress", nil, false, d)}, {ppStep("shell-local", boom, false, d)}}
		}, "art-a,art-a>compress"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &harness{}
			var destroyed sync.Map
			j := h.job("a", 0, nil)
			j.PostProcessors = tc.chains(&destroyed)
			res := Run(context.Background(), []*Job{j}, Options{Sink: h.sink})[0]
			if res.Status != StatusFailed || !errors.Is(res.Err, boom) {
				t.Fatalf("status %s, err %v; want failed with the post-processor's error", res.Status, res.Err)
			}
			var ids []string
			for _, a := range res.Artifacts {
				ids = append(ids, a.ID)
			}
			if got := strings.Join(ids, ","); got != tc.want {
				t.Errorf("artifacts %s, want %s", got, tc.want)
			}
			destroyed.Range(func(k, _ any) bool {
				t.Errorf("artifact %s was removed", k)
				return true
			})
		})
	}
}

// TestCancelDuringPostProcessorListsWhatRemains: Ctrl-C while a
// post-processor runs ends the build cancelled, with the builder's
// artifact listed.
func TestCancelDuringPostProcessorListsWhatRemains(t *testing.T) {
	h := &harness{}
	ctx, cancel := context.WithCancel(context.Background())
	j := h.job("a", 0, nil)
	j.PostProcessors = [][]*PostProcessorStep{{{Type: "push", Make: func(provisioners.BuildInfo) (artifacts.PostProcessor, error) {
		return ppErrFunc(func(ctx context.Context, in *artifacts.Artifact) (*artifacts.Artifact, error) {
			cancel()
			<-ctx.Done()
			return nil, ctx.Err()
		}), nil
	}}}}
	res := Run(ctx, []*Job{j}, Options{Sink: h.sink})[0]
	if res.Status != StatusCancelled {
		t.Fatalf("status %s (%v), want cancelled", res.Status, res.Err)
	}
	if len(res.Artifacts) != 1 || res.Artifacts[0].ID != "art-a" {
		t.Errorf("artifacts %v, want the builder's art-a", res.Artifacts)
	}
}

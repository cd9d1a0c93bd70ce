package engine

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/bake-tool/bake/artifacts/sbom"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/provisioners"
)

// inventoryStep names the inventory in events.
const inventoryStep = "package inventory"

// inventoryTimeout bounds the inventory command: dpkg-query on a loaded
// TCG guest takes seconds, never minutes.
const inventoryTimeout = 3 * time.Minute

// takeInventory reads the machine's package databases through comm after
// the provisioners, before the builder snapshots, and keeps the result for
// the build's SBOM. It never fails the build: a machine without a
// database gives an inventory that says so, and a command that cannot be
// run gives a warning and no SBOM. A build without a communicator has no
// inventory.
func (r *jobRun) takeInventory(ctx context.Context, comm provisioners.Communicator) {
	if !r.opts.Inventory || comm == nil {
		return
	}
	r.stepEvent(builder.StepEvent{Step: inventoryStep, Phase: "start"})
	t0 := time.Now()
	inv, err := Inventory(ctx, comm)
	if err != nil {
		r.stepEvent(builder.StepEvent{Step: inventoryStep, Phase: "failed", Err: err, Elapsed: time.Since(t0)})
		r.ui.Error(fmt.Sprintf("warning: no SBOM for this build: %s", r.errText(err)))
		return
	}
	for _, n := range inv.Notes {
		r.ui.Error("warning: SBOM: " + n)
	}
	r.stepEvent(builder.StepEvent{Step: inventoryStep, Phase: "done", Elapsed: time.Since(t0),
		Detail: fmt.Sprintf("%d package(s) from %d database(s)", len(inv.Packages), len(inv.Databases))})
	r.mu.Lock()
	r.inventory = inv
	r.mu.Unlock()
}

// Inventory runs sbom.Script on the machine behind comm and parses what it
// prints.
func Inventory(ctx context.Context, comm provisioners.Communicator) (*sbom.Inventory, error) {
	ctx, cancel := context.WithTimeout(ctx, inventoryTimeout)
	defer cancel()
	var out, stderr bytes.Buffer
	status, err := comm.Run(ctx, &provisioners.Cmd{Command: sbom.Script, Stdout: &out, Stderr: &stderr})
	if err != nil {
		return nil, fmt.Errorf("run the package inventory: %w", err)
	}
	if status != 0 {
		return nil, fmt.Errorf("package inventory exited %d: %s", status, firstLine(stderr.String()))
	}
	return sbom.ParseInventory(out.Bytes())
}

func firstLine(s string) string {
	s = string(bytes.TrimSpace([]byte(s)))
	if i := bytes.IndexByte([]byte(s), '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

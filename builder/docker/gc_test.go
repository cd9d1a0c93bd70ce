package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bake-tool/bake/internal/gc"
	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// gcTemplate is a docker build whose shell-local provisioner and
// post-processor, given a marker path, write the run id to it and then
// wait forever: bake is SIGKILLed while they run.
const gcTemplate = `
variable "image" {
  type = string
}
variable "provision_marker" {
  type    = string
  default = ""
}
variable "post_marker" {
  type    = string
  default = ""
}

source "docker" "gc" {
  image  = var.image
  pull   = false
  commit = true
}

build {
  sources = ["source.docker.gc"]

  provisioner "shell-local" {
    inline = ["if [ -n '${var.provision_marker}' ]; then echo \"$BAKE_RUN_ID\" > '${var.provision_marker}'; while :; do sleep 1; done; fi"]
  }

  post-processor "shell-local" {
    inline = ["if [ -n '${var.post_marker}' ]; then echo \"$BAKE_RUN_ID\" > '${var.post_marker}'; while :; do sleep 1; done; fi"]
  }
}
`

// TestGCAfterSIGKILL kills the real bake binary at each step of a docker
// build, then runs `bake gc -run-id RUN`: what the kill left (container,
// committed image, shell-local processes and scripts, the run's journal)
// is there before and gone after. At the first kill point it also checks
// that gc leaves a run that is still going alone, and that -dry-run only
// lists.
func TestGCAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the bake binary")
	}
	engine(t)
	bin := bakebin.Path(t)
	dir := t.TempDir()
	template := filepath.Join(dir, "gc.pkr.hcl")
	if err := os.WriteFile(template, []byte(gcTemplate), 0o644); err != nil {
		t.Fatal(err)
	}

	points := []struct {
		name string
		at   func(dir string) bakebin.KillPoint
		// vars are extra -var flags, from the test's directory.
		vars func(dir string) []string
		want []string // kinds of leftovers the kill leaves
	}{
		{
			name: "after start container",
			at:   func(string) bakebin.KillPoint { return bakebin.KillPoint{Step: "start container"} },
			want: []string{"docker container"},
		},
		{
			name: "during provisioning",
			at:   func(d string) bakebin.KillPoint { return bakebin.KillPoint{Marker: filepath.Join(d, "provision")} },
			vars: func(d string) []string { return []string{"provision_marker=" + filepath.Join(d, "provision")} },
			want: []string{"docker container", "process", "temporary file"},
		},
		{
			name: "after commit",
			at:   func(string) bakebin.KillPoint { return bakebin.KillPoint{Step: "commit container"} },
			want: []string{"docker container", "docker image"},
		},
		{
			name: "during post-processor",
			at:   func(d string) bakebin.KillPoint { return bakebin.KillPoint{Marker: filepath.Join(d, "post")} },
			vars: func(d string) []string { return []string{"post_marker=" + filepath.Join(d, "post")} },
			want: []string{"docker image", "process", "temporary file"},
		},
	}
	for i, p := range points {
		t.Run(p.name, func(t *testing.T) {
			d := t.TempDir()
			env := bakebin.Env(t)
			tmp := bakebin.Getenv(env, "TMPDIR")
			finders := func() []gc.Finder { return []gc.Finder{gc.Local{TempDir: tmp}, NewFinder()} }
			find := func(runID string) []gc.Leftover {
				t.Helper()
				var all []gc.Leftover
				for _, f := range finders() {
					ls, err := f.Find(context.Background(), gc.Filter{RunID: runID})
					if err != nil {
						t.Fatalf("%s: %v", f.Name(), err)
					}
					all = append(all, ls...)
				}
				return all
			}
			var runID string
			t.Cleanup(func() {
				if runID == "" {
					return
				}
				for _, f := range finders() {
					ls, _ := f.Find(context.Background(), gc.Filter{RunID: runID})
					for _, l := range ls {
						_ = f.Remove(context.Background(), l)
					}
				}
			})

			args := []string{"build", "-json", "-debug", "-manifest", "", "-var", "image=" + testenv.BaseImage()}
			if p.vars != nil {
				for _, v := range p.vars(d) {
					args = append(args, "-var", v)
				}
			}
			cmd := exec.Command(bin, append(args, template)...)
			cmd.Env = env
			at := p.at(d)
			if i == 0 {
				at.Before = func(id string) {
					out := bakebin.GC(t, env, "-run-id", id)
					if !strings.Contains(out, "its run is still going") || strings.Contains(out, "removed 1") {
						t.Errorf("gc of a run still going:\n%s", out)
					}
					if len(find(id)) == 0 {
						t.Error("gc removed the container of a run still going")
					}
				}
			}
			var out string
			runID, out = bakebin.KillAt(t, cmd, at)

			left := find(runID)
			var kinds []string
			for _, l := range left {
				if !slices.Contains(kinds, l.Kind) {
					kinds = append(kinds, l.Kind)
				}
			}
			slices.Sort(kinds)
			if !slices.Equal(kinds, p.want) {
				t.Fatalf("after SIGKILL %s, left %v, want %v\n%s", at, kinds, p.want, out)
			}
			journal := filepath.Join(bakebin.Getenv(env, "BAKE_STATE_DIR"), "runs", runID+".jsonl")
			if _, err := os.Stat(journal); err != nil {
				t.Fatalf("no journal of the killed run: %v", err)
			}

			if i == 0 {
				dry := bakebin.GC(t, env, "-run-id", runID, "-dry-run")
				if !strings.Contains(dry, "would remove") || len(find(runID)) != len(left) {
					t.Errorf("dry run:\n%s\nleft after it: %v", dry, find(runID))
				}
			}

			gcOut := bakebin.GC(t, env, "-run-id", runID)
			if rest := find(runID); len(rest) > 0 {
				t.Errorf("left after bake gc: %+v\n%s", rest, gcOut)
			}
			if want := fmt.Sprintf("removed %d, kept 0, failed 0", len(left)); !strings.Contains(gcOut, want) {
				t.Errorf("bake gc output, want %q:\n%s", want, gcOut)
			}
			for _, l := range left {
				if !strings.Contains(gcOut, l.Kind) {
					t.Errorf("bake gc does not list the %s:\n%s", l.Kind, gcOut)
				}
			}
			if _, err := os.Stat(journal); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the run's journal is still there after gc: %v", err)
			}
			if again := bakebin.GC(t, env, "-run-id", runID); !strings.Contains(again, "nothing left behind") {
				t.Errorf("a second gc found more:\n%s", again)
			}
		})
	}
}

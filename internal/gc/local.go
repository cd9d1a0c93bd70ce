package gc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// RunIDEnv is the environment variable that carries the run id into every
// process a run starts on this machine (shell-local commands, and what
// they start).
const RunIDEnv = "BAKE_RUN_ID"

// Local finds what runs leave on this machine outside any builder:
// processes started by shell-local (or by a shell provisioner over SSH to
// this machine) that carry BAKE_RUN_ID in their environment, and the
// temporary files whose names carry the run id
// (bake-shell-local-RUN-…, the ansible provisioner's bake-ansible-RUN-…).
type Local struct {
	// TempDir is where temporary files are looked for; "" means
	// os.TempDir().
	TempDir string
	// Grace is how long a process gets between SIGTERM and SIGKILL; 0
	// means 5 s.
	Grace time.Duration
}

var _ Finder = Local{}

// localTempNames are the temporary files of bake's own provisioners.
var localTempNames = []*regexp.Regexp{NamePattern("bake-shell-local-"), NamePattern("bake-ansible-")}

// Name implements Finder.
func (Local) Name() string { return "local" }

// Find implements Finder.
func (lf Local) Find(_ context.Context, f Filter) ([]Leftover, error) {
	procs, perr := Processes()
	var out []Leftover
	for _, p := range procs {
		id, ok := p.Env(RunIDEnv)
		if !ok || id == "" || f.RunID != "" && id != f.RunID {
			continue
		}
		what := ""
		if len(p.Args) > 0 {
			what = filepath.Base(p.Args[0])
		}
		out = append(out, Leftover{Kind: "process", ID: strconv.Itoa(p.PID), RunID: id, Created: p.Started, Detail: what})
	}
	files, ferr := TempFiles(lf.TempDir, localTempNames, "temporary file", f)
	return append(out, files...), errors.Join(perr, ferr)
}

// Remove implements Finder.
func (lf Local) Remove(ctx context.Context, l Leftover) error {
	if l.Kind == "process" {
		return KillLeftover(ctx, l, lf.Grace)
	}
	return RemovePath(l)
}

// KillLeftover stops the process a Leftover of kind "process" (or any
// kind whose ID is a pid and Created its start) names, unless its pid now
// belongs to another process.
func KillLeftover(ctx context.Context, l Leftover, grace time.Duration) error {
	pid, err := strconv.Atoi(l.ID)
	if err != nil {
		return fmt.Errorf("process id %q: %w", l.ID, err)
	}
	if grace <= 0 {
		grace = 5 * time.Second
	}
	p, ok := readProcess(pid)
	if !ok || !p.Started.Equal(l.Created) {
		return nil // gone, or the pid is someone else's now
	}
	return Kill(ctx, pid, p.Start, grace)
}

// TempFiles lists the entries of dir (os.TempDir() when "") whose names
// match one of names, the run id being the first submatch, as leftovers
// of the given kind, aged by their modification time.
func TempFiles(dir string, names []*regexp.Regexp, kind string, f Filter) ([]Leftover, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var out []Leftover
	for _, de := range des {
		for _, re := range names {
			m := re.FindStringSubmatch(de.Name())
			if m == nil || f.RunID != "" && m[1] != f.RunID {
				continue
			}
			fi, err := de.Info()
			if err != nil {
				continue
			}
			out = append(out, Leftover{Kind: kind, ID: filepath.Join(dir, de.Name()), RunID: m[1], Created: fi.ModTime()})
			break
		}
	}
	return out, nil
}

// RemovePath removes the file or directory tree a leftover's ID names.
func RemovePath(l Leftover) error {
	if !filepath.IsAbs(l.ID) || filepath.Clean(l.ID) == "/" {
		return fmt.Errorf("refusing to remove %q: not an absolute path", l.ID)
	}
	if err := os.RemoveAll(l.ID); err != nil {
		return fmt.Errorf("remove %s: %w", l.Kind, err)
	}
	return nil
}

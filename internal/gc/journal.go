package gc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Journal is the directory of run journals, one file per run
// (RUN.jsonl): bake writes in it who runs the build (its pid) and the
// places a run creates that no finder could find from the resource alone
// (a qemu output_directory anywhere on disk). Its zero value is a journal
// that records nothing and knows no run.
type Journal struct {
	// Dir is the directory of the journal files; "" disables the journal.
	Dir string
}

// StateDir returns bake's state directory, read through getenv:
// $BAKE_STATE_DIR, else /var/lib/bake for root, else
// $XDG_STATE_HOME/bake, else ~/.local/state/bake.
func StateDir(getenv func(string) string) string {
	if d := getenv("BAKE_STATE_DIR"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/bake"
	}
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "bake")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "state", "bake")
	}
	return filepath.Join(os.TempDir(), "bake-state")
}

// DefaultJournal is the journal in StateDir(getenv)/runs.
func DefaultJournal(getenv func(string) string) Journal {
	return Journal{Dir: filepath.Join(StateDir(getenv), "runs")}
}

// Place is a file or directory a run created, recorded in its journal.
type Place struct {
	// Kind says what it is: "qemu output directory".
	Kind string `json:"kind"`
	// Path is absolute.
	Path string `json:"path"`
	// Build is the build that made it.
	Build string `json:"build,omitempty"`
	// Time is when it was recorded (filled in by Add).
	Time time.Time `json:"time"`
}

// entry is one line of a journal file.
type entry struct {
	Op       string    `json:"op"` // begin, add, release, keep, end
	Time     time.Time `json:"time"`
	PID      int       `json:"pid"`
	PIDStart string    `json:"pidStart,omitempty"` // the process's start in clock ticks since boot
	Place    *Place    `json:"place,omitempty"`
}

// Run is what a journal says about one run.
type Run struct {
	ID string
	// Started is when the journal began (or its first entry).
	Started time.Time
	// PID is the bake process that wrote the journal; Live says it is
	// still running (the same process: its start time is checked too).
	PID  int
	Live bool
	// Begun is set when the journal was begun by the run's owner (bake
	// build), which promises to end it: only such a run can be known to
	// have crashed.
	Begun bool
	// Ended is set when the run ended normally (cleanups done).
	Ended bool
	// Pending are the places created and neither removed nor kept.
	Pending []Place
	// Kept are places that became a build's artifact: leftovers only
	// when the run crashed.
	Kept []Place
}

// Crashed reports whether the run stopped without ending: it was begun,
// its process is gone and it never wrote its end.
func (r Run) Crashed() bool { return r.Begun && !r.Live && !r.Ended }

// Begin starts the journal of runID for this process; End ends it. A
// journal that cannot be written is an error the caller may warn about:
// the run itself does not need it.
func (j Journal) Begin(runID string) error {
	return j.write(runID, entry{Op: "begin"})
}

// End marks runID's journal ended and removes it when no place it records
// is pending.
func (j Journal) End(runID string) error {
	if j.Dir == "" {
		return nil
	}
	if err := j.write(runID, entry{Op: "end"}); err != nil {
		return err
	}
	r, err := j.read(runID)
	if err != nil {
		return err
	}
	if len(r.Pending) == 0 {
		return j.Forget(runID)
	}
	return nil
}

// Add records that runID is about to create p.Path (write-ahead: a crash
// between the creation and the record must not hide it). Call it only
// for a path that does not exist, or that the run may remove.
func (j Journal) Add(runID string, p Place) error {
	p.Time = time.Now().UTC()
	return j.write(runID, entry{Op: "add", Place: &p})
}

// Release records that path is gone.
func (j Journal) Release(runID, path string) error {
	return j.write(runID, entry{Op: "release", Place: &Place{Path: path}})
}

// Keep records that path is now a build's artifact: a run that ends keeps
// it; gc removes it only if the run crashes first.
func (j Journal) Keep(runID, path string) error {
	return j.write(runID, entry{Op: "keep", Place: &Place{Path: path}})
}

// Forget removes runID's journal.
func (j Journal) Forget(runID string) error {
	if j.Dir == "" {
		return nil
	}
	if err := checkRunID(runID); err != nil {
		return err
	}
	if err := os.Remove(j.file(runID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove run journal: %w", err)
	}
	return nil
}

func (j Journal) file(runID string) string { return filepath.Join(j.Dir, runID+".jsonl") }

// write appends e to runID's journal in one write (O_APPEND), so that
// parallel builds of one run can record at once.
func (j Journal) write(runID string, e entry) error {
	if j.Dir == "" {
		return nil
	}
	if err := checkRunID(runID); err != nil {
		return err
	}
	if err := os.MkdirAll(j.Dir, 0o700); err != nil {
		return fmt.Errorf("run journal: %w", err)
	}
	e.Time = time.Now().UTC()
	e.PID = os.Getpid()
	e.PIDStart = procStartTicks(e.PID)
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(j.file(runID), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("run journal: %w", err)
	}
	_, werr := f.Write(append(b, '\n'))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("run journal: %w", werr)
	}
	return nil
}

// Runs reads every journal in the directory.
func (j Journal) Runs() (map[string]Run, error) {
	runs := map[string]Run{}
	if j.Dir == "" {
		return runs, nil
	}
	des, err := os.ReadDir(j.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return runs, nil
	}
	if err != nil {
		return runs, err
	}
	var errs []error
	for _, de := range des {
		id, ok := strings.CutSuffix(de.Name(), ".jsonl")
		if !ok || de.IsDir() || checkRunID(id) != nil {
			continue
		}
		r, err := j.read(id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		runs[id] = r
	}
	return runs, errors.Join(errs...)
}

// read parses runID's journal. A line that does not parse (a write cut
// short by the crash) is skipped.
func (j Journal) read(runID string) (Run, error) {
	f, err := os.Open(j.file(runID))
	if err != nil {
		return Run{}, fmt.Errorf("read run journal: %w", err)
	}
	defer f.Close()
	return parseJournal(runID, f)
}

// parseJournal reads the journal of runID from f.
func parseJournal(runID string, f io.Reader) (Run, error) {
	r := Run{ID: runID}
	type proc struct {
		pid   int
		start string
	}
	procs := map[proc]bool{}
	order := []string{}
	places := map[string]*Place{}
	kept := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var e entry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		if r.Started.IsZero() || e.Op == "begin" && e.Time.Before(r.Started) {
			r.Started = e.Time
		}
		if e.PID > 0 {
			procs[proc{e.PID, e.PIDStart}] = true
			if e.Op == "begin" || r.PID == 0 {
				r.PID = e.PID
			}
		}
		switch e.Op {
		case "begin":
			r.Begun = true
		case "end":
			r.Ended = true
		case "add":
			if e.Place == nil || !filepath.IsAbs(e.Place.Path) {
				continue
			}
			p := *e.Place
			if places[p.Path] == nil {
				order = append(order, p.Path)
			}
			places[p.Path] = &p
			delete(kept, p.Path)
		case "release":
			if e.Place != nil {
				delete(places, e.Place.Path)
				delete(kept, e.Place.Path)
			}
		case "keep":
			if e.Place != nil && places[e.Place.Path] != nil {
				kept[e.Place.Path] = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Run{}, fmt.Errorf("read run journal: %w", err)
	}
	if !r.Ended {
		for p := range procs {
			if processAlive(p.pid, p.start) {
				r.Live, r.PID = true, p.pid
				break
			}
		}
	}
	for _, path := range order {
		p := places[path]
		switch {
		case p == nil:
		case kept[path]:
			r.Kept = append(r.Kept, *p)
		default:
			r.Pending = append(r.Pending, *p)
		}
		places[path] = nil // a path added twice is listed once
	}
	return r, nil
}

// journalFinder reports the places journals record: pending ones of any
// run, kept ones (artifacts) of runs that crashed.
type journalFinder struct {
	j    Journal
	runs map[string]Run
}

func (journalFinder) Name() string { return "journal" }

func (jf journalFinder) Find(_ context.Context, f Filter) ([]Leftover, error) {
	var out []Leftover
	for _, id := range slices.Sorted(maps.Keys(jf.runs)) {
		r := jf.runs[id]
		if f.RunID != "" && id != f.RunID {
			continue
		}
		add := func(p Place, artifact bool) {
			if _, err := os.Lstat(p.Path); err != nil {
				return // gone already (or never made)
			}
			out = append(out, Leftover{Kind: p.Kind, ID: p.Path, RunID: id, Build: p.Build, Created: p.Time, Artifact: artifact})
		}
		for _, p := range r.Pending {
			add(p, false)
		}
		if r.Crashed() {
			for _, p := range r.Kept {
				add(p, true)
			}
		}
	}
	return out, nil
}

func (journalFinder) Remove(_ context.Context, l Leftover) error { return RemovePath(l) }

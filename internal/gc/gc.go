package gc

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"
)

// Leftover is one thing a run created and may have left behind.
type Leftover struct {
	// Kind says what it is: "docker container", "EC2 instance",
	// "qemu output directory", "process".
	Kind string
	// ID identifies it to its Finder: a container id, an instance id, a
	// path, a process id.
	ID string
	// Where qualifies ID when it is not unique on its own: an AWS region.
	Where string
	// RunID is the run that made it.
	RunID string
	// Build is the build that made it, when the resource says.
	Build string
	// Created is when it was made; zero when the resource does not say
	// (an EC2 security group): its run's age stands in for it.
	Created time.Time
	// Detail is a short description for the listing: an image name, a
	// process's command name.
	Detail string
	// Artifact marks what may be the product of a run that finished (a
	// committed image, an AMI and its snapshots, a qemu output
	// directory): Sweep removes it only when the run's journal shows that
	// the run crashed.
	Artifact bool
}

// String names the leftover for messages: "docker container 3f2a…".
func (l Leftover) String() string {
	s := l.Kind + " " + l.ID
	if l.Where != "" {
		s += " in " + l.Where
	}
	return s
}

// Filter chooses what a sweep considers.
type Filter struct {
	// RunID, when set, limits the sweep to that run.
	RunID string
	// OlderThan skips anything younger; 0 takes everything.
	OlderThan time.Duration
}

// Finder finds what one kind of builder (or bake itself) leaves behind, by
// the run id it puts on everything.
//
// Contract: Find returns only things that carry a bake run id, and may use
// f.RunID to narrow its search (Sweep applies the filter again, and the age
// rule itself). Remove removes one leftover that Find returned; removing
// something already gone is not an error. Both are safe to call from one
// goroutine at a time; Sweep calls Remove in the order Find returned, so a
// finder lists dependents first (an instance before its security group).
type Finder interface {
	// Name is the finder's name in messages: "docker", "qemu", "amazon-ebs".
	Name() string
	Find(ctx context.Context, f Filter) ([]Leftover, error)
	Remove(ctx context.Context, l Leftover) error
}

// Outcome is what a sweep did with one leftover.
type Outcome struct {
	Leftover
	// Age is how old it is (from Created, else its run's start), zero
	// when unknown.
	Age time.Duration
	// Skipped says why it was left alone; "" when it was (or, in a dry
	// run, would be) removed.
	Skipped string
	// Removed is set once Remove succeeded.
	Removed bool
	// Err is Remove's error.
	Err error
}

// ErrUnavailable is wrapped by a finder's Find error when its kind cannot
// be looked at here and that is no fault (no Docker engine on this
// machine, no AWS region given): Sweep reports it as a note, not a failure.
var ErrUnavailable = errors.New("skipped")

// Report is the result of a sweep.
type Report struct {
	// Items lists every leftover found, in the finders' order.
	Items []Outcome
	// Notes are the finders that did not look, each saying why (errors
	// wrapping ErrUnavailable).
	Notes []error
	// Errors are the finders that could not look (an unreachable engine,
	// a region without credentials), each wrapped with the finder's name.
	Errors []error
}

// Failed reports whether a finder failed or a removal did.
func (r Report) Failed() bool {
	if len(r.Errors) > 0 {
		return true
	}
	for _, it := range r.Items {
		if it.Err != nil {
			return true
		}
	}
	return false
}

// Options are a sweep's settings.
type Options struct {
	Filter Filter
	// DryRun lists what would be removed and removes nothing.
	DryRun bool
	// Journal holds the runs' journals: which runs are still going, which
	// crashed, and what they recorded. Its zero value knows no run.
	Journal Journal
	// Now is the time ages are measured at; zero means time.Now().
	Now time.Time
}

// Sweep finds what the finders report and removes what opts allow: never
// anything of a run that is still going on this machine, nothing younger
// than opts.Filter.OlderThan (an unknown age counts as young unless the
// filter takes everything), and an Artifact only when its run crashed. The
// journal of a run that is not going any more is removed once nothing it
// recorded remains and nothing of the run was left.
func Sweep(ctx context.Context, finders []Finder, opts Options) Report {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	var rep Report
	runs, err := opts.Journal.Runs()
	if err != nil {
		rep.Errors = append(rep.Errors, fmt.Errorf("journal: %w", err))
	}
	finders = append(finders, journalFinder{j: opts.Journal, runs: runs})

	type found struct {
		f Finder
		l Leftover
	}
	var all []found
	for _, f := range finders {
		ls, err := f.Find(ctx, opts.Filter)
		if errors.Is(err, ErrUnavailable) {
			rep.Notes = append(rep.Notes, fmt.Errorf("%s: %w", f.Name(), err))
		} else if err != nil {
			rep.Errors = append(rep.Errors, fmt.Errorf("%s: %w", f.Name(), err))
		}
		for _, l := range ls {
			if opts.Filter.RunID != "" && l.RunID != opts.Filter.RunID {
				continue
			}
			all = append(all, found{f, l})
		}
	}

	// A run's start: its journal's, else the oldest thing it made.
	started := map[string]time.Time{}
	for id, r := range runs {
		started[id] = r.Started
	}
	for _, fl := range all {
		c := fl.l.Created
		if s, ok := started[fl.l.RunID]; !c.IsZero() && (!ok || s.IsZero() || c.Before(s)) {
			started[fl.l.RunID] = c
		}
	}

	unfinished := map[string]bool{} // runs with something left
	for _, fl := range all {
		l := fl.l
		o := Outcome{Leftover: l}
		created := l.Created
		if created.IsZero() {
			created = started[l.RunID]
		}
		if !created.IsZero() {
			o.Age = max(now.Sub(created), 0)
		}
		run, journaled := runs[l.RunID]
		switch {
		case journaled && run.Live:
			o.Skipped = fmt.Sprintf("its run is still going (bake pid %d)", run.PID)
		case created.IsZero() && opts.Filter.OlderThan > 0:
			o.Skipped = "age unknown (use -run-id or -older-than 0)"
		case o.Age < opts.Filter.OlderThan:
			o.Skipped = "younger than " + opts.Filter.OlderThan.String()
		case l.Artifact && !(journaled && run.Crashed()):
			o.Skipped = "may be the artifact of a finished run (no journal here says the run crashed)"
		}
		if o.Skipped == "" && !opts.DryRun {
			if err := fl.f.Remove(ctx, l); err != nil {
				o.Err = err
			} else {
				o.Removed = true
			}
		}
		if !o.Removed {
			unfinished[l.RunID] = true
		}
		rep.Items = append(rep.Items, o)
	}

	// A finder that could not look may have missed what a run left: keep
	// every journal then, so that a later gc still knows which runs crashed.
	// (A finder skipped as unavailable, no engine or no region, is not
	// expected to find anything later either.)
	if !opts.DryRun && len(rep.Errors) == 0 {
		for id, r := range runs {
			if opts.Filter.RunID != "" && id != opts.Filter.RunID || r.Live || unfinished[id] {
				continue
			}
			if err := opts.Journal.Forget(id); err != nil {
				rep.Errors = append(rep.Errors, fmt.Errorf("journal: %w", err))
			}
		}
	}
	return rep
}

// RunIDPattern matches a run id as bake makes them: a UUID (bake build),
// or 12 hex digits (a builder used without one).
const RunIDPattern = `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{12}`

// NamePattern returns a regexp matching a name made of prefix, a run id
// (captured as the first submatch) and "-": bake-qemu-RUN-….
func NamePattern(prefix string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `(` + RunIDPattern + `)-`)
}

// validRunID reports whether id is safe as a file name. It compiles on
// first use: {0,127} compiles to 127 copies, kept by every bake process.
var validRunID = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`) })

func checkRunID(id string) error {
	if !validRunID().MatchString(id) {
		return errors.New("run id: letters, digits, '.', '_' and '-' only")
	}
	return nil
}

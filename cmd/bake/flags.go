package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// stringList is a flag that may be given several times; each value may also
// hold a comma-separated list when split is set.
type stringList struct {
	values []string
	split  bool
}

func (s *stringList) String() string { return strings.Join(s.values, ",") }

func (s *stringList) Set(v string) error {
	if s.split {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				s.values = append(s.values, p)
			}
		}
		return nil
	}
	s.values = append(s.values, v)
	return nil
}

// newFlagSet returns a FlagSet for verb that reports errors instead of
// exiting and prints its usage to w.
func newFlagSet(verb, synopsis string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("bake "+verb, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: bake %s %s\n\nFlags:\n", verb, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseInterleaved parses args with fs, accepting flags before and after
// the positional arguments (Packer users write `bake build x.hcl -force`),
// single or double dash. "--" ends flag parsing. It returns the positional
// arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

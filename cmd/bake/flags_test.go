package main

import (
	"io"
	"reflect"
	"testing"
)

func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		pos   []string
		force bool
		vars  []string
	}{
		{[]string{"-force", "t.hcl"}, []string{"t.hcl"}, true, nil},
		{[]string{"t.hcl", "--force", "-var", "a=b"}, []string{"t.hcl"}, true, []string{"a=b"}},
		{[]string{"-var=a=b", "x", "-var", "c=d", "y"}, []string{"x", "y"}, false, []string{"a=b", "c=d"}},
		{[]string{"--", "-weird.hcl"}, []string{"-weird.hcl"}, false, nil},
	} {
		fs := newFlagSet("test", "", io.Discard)
		force := fs.Bool("force", false, "")
		var vars stringList
		fs.Var(&vars, "var", "")
		pos, err := parseInterleaved(fs, tc.args)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if !reflect.DeepEqual(pos, tc.pos) || *force != tc.force || !reflect.DeepEqual(vars.values, tc.vars) {
			t.Errorf("%v: pos %v force %v vars %v", tc.args, pos, *force, vars.values)
		}
	}
}

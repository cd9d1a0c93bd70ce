package policy

import (
	"fmt"
	"strings"
)

// CompareDebianVersions compares two Debian package versions
// ([epoch:]upstream[-revision]) as dpkg --compare-versions does, and
// returns -1, 0 or 1.
func CompareDebianVersions(a, b string) int {
	ea, ua, ra := splitDebian(a)
	eb, ub, rb := splitDebian(b)
	if c := compareNumeric(ea, eb); c != 0 {
		return c
	}
	if c := compareFragment(ua, ub); c != 0 {
		return c
	}
	return compareFragment(ra, rb)
}

func splitDebian(v string) (epoch, upstream, revision string) {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, ':'); i >= 0 {
		epoch, v = v[:i], v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		v, revision = v[:i], v[i+1:]
	}
	return epoch, v, revision
}

// order is dpkg's weight of a non-digit character: "~" sorts before
// everything, even the end of the string; letters before non-letters.
func order(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return 0
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return int(c)
	case c == '~':
		return -1
	case c != 0:
		return int(c) + 256
	}
	return 0
}

// compareFragment is dpkg's verrevcmp: alternate non-digit runs (by
// order) and digit runs (numerically).
func compareFragment(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		first := 0
		for i < len(a) && !isDigit(a[i]) || j < len(b) && !isDigit(b[j]) {
			var ca, cb byte
			if i < len(a) {
				ca = a[i]
			}
			if j < len(b) {
				cb = b[j]
			}
			if ca != 0 && isDigit(ca) {
				ca = 0
			}
			if cb != 0 && isDigit(cb) {
				cb = 0
			}
			oa, ob := order(ca), order(cb)
			if oa != ob {
				return sign(oa - ob)
			}
			if i < len(a) && !isDigit(a[i]) {
				i++
			}
			if j < len(b) && !isDigit(b[j]) {
				j++
			}
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if first == 0 {
				first = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if first != 0 {
			return sign(first)
		}
	}
	return 0
}

func compareNumeric(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return sign(len(a) - len(b))
	}
	return sign(strings.Compare(a, b))
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// MatchDebianVersion reports whether version satisfies every clause of
// constraint, a comma-separated list of "OP VERSION" with OP one of dpkg's
// <<, <=, =, >=, >> (and <, >, != as usual), e.g. ">= 3.0.0, << 3.0.15".
func MatchDebianVersion(version, constraint string) (bool, error) {
	if strings.TrimSpace(constraint) == "" {
		return false, fmt.Errorf("empty version constraint")
	}
	for _, clause := range strings.Split(constraint, ",") {
		clause = strings.TrimSpace(clause)
		op := ""
		for _, o := range []string{"<<", "<=", ">=", ">>", "!=", "=", "<", ">"} {
			if strings.HasPrefix(clause, o) {
				op = o
				break
			}
		}
		if op == "" {
			return false, fmt.Errorf("version constraint %q: want OP VERSION with OP one of <<, <=, =, >=, >>, !=", clause)
		}
		want := strings.TrimSpace(clause[len(op):])
		if want == "" {
			return false, fmt.Errorf("version constraint %q has no version", clause)
		}
		c := CompareDebianVersions(version, want)
		ok := false
		switch op {
		case "<<", "<":
			ok = c < 0
		case "<=":
			ok = c <= 0
		case "=":
			ok = c == 0
		case "!=":
			ok = c != 0
		case ">=":
			ok = c >= 0
		case ">>", ">":
			ok = c > 0
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

package qemu

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// A keyAction is one thing typing a boot command does: press a key (down
// and up, with shift when the character needs it), hold a key down or let
// it go, or wait.
type keyAction struct {
	// qcode is QEMU's name of the key ("a", "ret", "shift"); "" for a wait.
	qcode string
	// shift: press shift around the key (a shifted literal character).
	shift bool
	// press is true for a whole press (down, then up); otherwise down says
	// which half (a <xOn>/<xOff> toggle).
	press, down bool
	wait        time.Duration
}

// specialKeys maps Packer's <name> keys (lower-cased) to QEMU qcodes.
var specialKeys = map[string]string{
	"bs": "backspace", "del": "delete", "enter": "ret", "return": "ret", "esc": "esc",
	"tab": "tab", "spacebar": "spc", "insert": "insert", "home": "home", "end": "end",
	"pageup": "pgup", "pagedown": "pgdn", "up": "up", "down": "down", "left": "left", "right": "right",
	"f1": "f1", "f2": "f2", "f3": "f3", "f4": "f4", "f5": "f5", "f6": "f6",
	"f7": "f7", "f8": "f8", "f9": "f9", "f10": "f10", "f11": "f11", "f12": "f12",
	"leftalt": "alt", "leftctrl": "ctrl", "leftshift": "shift", "leftsuper": "meta_l",
	"rightalt": "alt_r", "rightctrl": "ctrl_r", "rightshift": "shift_r", "rightsuper": "meta_r",
	"menu": "menu",
}

// charKeys maps the printable ASCII characters that are not letters or
// digits to their qcode on a US keyboard, and whether shift is needed.
var charKeys = map[rune]struct {
	qcode string
	shift bool
}{
	' ': {"spc", false}, '\n': {"ret", false}, '\t': {"tab", false},
	'-': {"minus", false}, '_': {"minus", true}, '=': {"equal", false}, '+': {"equal", true},
	'[': {"bracket_left", false}, '{': {"bracket_left", true}, ']': {"bracket_right", false}, '}': {"bracket_right", true},
	';': {"semicolon", false}, ':': {"semicolon", true}, '\'': {"apostrophe", false}, '"': {"apostrophe", true},
	'`': {"grave_accent", false}, '~': {"grave_accent", true}, '\\': {"backslash", false}, '|': {"backslash", true},
	',': {"comma", false}, '<': {"comma", true}, '.': {"dot", false}, '>': {"dot", true},
	'/': {"slash", false}, '?': {"slash", true},
	'!': {"1", true}, '@': {"2", true}, '#': {"3", true}, '$': {"4", true}, '%': {"5", true},
	'^': {"6", true}, '&': {"7", true}, '*': {"8", true}, '(': {"9", true}, ')': {"0", true},
}

// charKey returns the qcode of a literal character and whether it needs
// shift; ok is false for a character a US keyboard cannot type.
func charKey(r rune) (qcode string, shift, ok bool) {
	switch {
	case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		return string(r), false, true
	case r >= 'A' && r <= 'Z':
		return string(r - 'A' + 'a'), true, true
	}
	k, ok := charKeys[r]
	return k.qcode, k.shift, ok
}

// parseBootCommand parses Packer's boot command syntax: literal characters
// (shifted ones typed with shift), <name> special keys, <nameOn>/<nameOff>
// to hold a key down and let it go (a special key or one character), and
// <wait>, <waitN> (seconds) or <waitDURATION> (Go duration, "1m30s"). A
// '<' that does not start a <word> is typed as itself. Unlike Packer,
// which types an unknown <word> literally, bake refuses it: it is nearly
// always a misspelt key. Errors never quote the command, which may hold a
// password.
func parseBootCommand(s string) ([]keyAction, error) {
	var out []keyAction
	for i := 0; i < len(s); {
		if s[i] == '<' {
			if j := tokenEnd(s, i); j > 0 {
				acts, err := parseToken(s[i+1 : j])
				if err != nil {
					return nil, fmt.Errorf("at byte %d: %w", i+1, err)
				}
				out = append(out, acts...)
				i = j + 1
				continue
			}
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		q, shift, ok := charKey(r)
		if !ok {
			if r == utf8.RuneError && n == 1 {
				return nil, fmt.Errorf("at byte %d: invalid UTF-8", i+1)
			}
			return nil, fmt.Errorf("at byte %d: %s cannot be typed on a US keyboard", i+1, describeRune(r))
		}
		out = append(out, keyAction{qcode: q, shift: shift, press: true})
		i += n
	}
	return out, nil
}

// tokenEnd returns the index of the '>' that closes the <word> starting
// at s[i], or -1 when s[i] does not start one.
func tokenEnd(s string, i int) int {
	j := i + 1
	for j < len(s) && isWordByte(s[j]) {
		j++
	}
	if j == i+1 || j >= len(s) || s[j] != '>' {
		return -1
	}
	return j
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// maxWait bounds one <waitX>, so that a typo ("<wait100000h>") is caught.
const maxWait = 24 * time.Hour

// parseToken turns the word of one <word> into actions.
func parseToken(word string) ([]keyAction, error) {
	lower := strings.ToLower(word)
	if q, ok := specialKeys[lower]; ok {
		return []keyAction{{qcode: q, press: true}}, nil
	}
	if strings.HasPrefix(lower, "wait") {
		arg := word[len("wait"):]
		d := time.Second
		if arg != "" {
			var err error
			if n, nerr := strconv.Atoi(arg); nerr == nil {
				if n < 0 || n > int(maxWait/time.Second) {
					return nil, fmt.Errorf("<wait%s> waits longer than %s", arg, maxWait)
				}
				d = time.Duration(n) * time.Second
			} else if d, err = time.ParseDuration(arg); err != nil || d < 0 {
				return nil, fmt.Errorf("<%s> is not a wait: write <wait>, <wait5> (seconds) or <wait1m30s>", word)
			}
			if d > maxWait {
				return nil, fmt.Errorf("<%s> waits longer than %s", word, maxWait)
			}
		}
		return []keyAction{{wait: d}}, nil
	}
	for _, suf := range []string{"on", "off"} {
		key, ok := strings.CutSuffix(lower, suf)
		if !ok || key == "" {
			continue
		}
		down := suf == "on"
		if q, ok := specialKeys[key]; ok {
			return []keyAction{{qcode: q, down: down}}, nil
		}
		if len(key) == 1 {
			// The character as written, so <AOn> holds shift too.
			q, shift, ok := charKey(rune(word[0]))
			if ok {
				if shift && down {
					return []keyAction{{qcode: "shift", down: true}, {qcode: q, down: true}}, nil
				}
				if shift {
					return []keyAction{{qcode: q}, {qcode: "shift"}}, nil
				}
				return []keyAction{{qcode: q, down: down}}, nil
			}
		}
	}
	return nil, fmt.Errorf("unknown key <%s>%s", word, suggestKey(lower))
}

// suggestKey returns ` (did you mean <x>?)` for a near miss, or "".
func suggestKey(word string) string {
	best, bestD := "", 3
	names := []string{"bs", "del", "enter", "return", "esc", "tab", "spacebar", "insert", "home", "end",
		"pageUp", "pageDown", "up", "down", "left", "right", "wait", "leftAltOn", "leftAltOff",
		"leftCtrlOn", "leftCtrlOff", "leftShiftOn", "leftShiftOff", "rightAltOn", "rightAltOff",
		"rightCtrlOn", "rightCtrlOff", "rightShiftOn", "rightShiftOff", "f1", "f10", "f12"}
	for _, n := range names {
		if d := editDistance(word, strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return "; see the README for the keys bake knows"
	}
	return fmt.Sprintf(" (did you mean <%s>?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func describeRune(r rune) string {
	if r < 0x20 || r == 0x7f {
		return fmt.Sprintf("control character %U", r)
	}
	return fmt.Sprintf("character %U", r)
}

// maskTemplates replaces each {{ ... }} of s with as many "x", so that a
// boot command can be checked at validate, before its fields are known,
// and an error's byte offset still points into what the user wrote.
func maskTemplates(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(strings.Repeat("x", j+2))
		s = s[i+j+2:]
	}
}

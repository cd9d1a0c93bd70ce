package qemu

import (
	"fmt"
	"path/filepath"
	"strings"

	braces "github.com/bake-tool/bake/templates/interpolate"
)

// A qemu command line is a list of switches, each with its values, in the
// order qemu receives them: ["-m", "512"], ["-device", "virtio-net,netdev=user.0"].
type qemuArg []string

// name is the switch, "-m".
func (a qemuArg) name() string { return a[0] }

// repeatable lists the switches qemu accepts more than once, each adding
// something (a device, a drive, a backend). The others say one thing
// about the machine (-m, -smp, -machine, -kernel...), so a later one
// replaces an earlier one.
var repeatable = map[string]bool{
	"-device": true, "-drive": true, "-netdev": true, "-nic": true, "-net": true,
	"-object": true, "-chardev": true, "-global": true, "-fw_cfg": true,
	"-blockdev": true, "-fsdev": true, "-virtfs": true, "-numa": true,
	"-add-fd": true, "-set": true, "-mon": true, "-serial": true, "-parallel": true,
	"-usbdevice": true,
	// Monitors: bake drives the guest through its own QMP socket, so a
	// template's -qmp or -monitor is added beside it, never in its place.
	"-qmp": true, "-qmp-pretty": true, "-monitor": true,
}

// aliases maps a switch to the one bake writes for the same thing.
var aliases = map[string]string{
	"-M": "-machine",
}

// mergeArgs returns bake's default switches with the template's qemuargs
// applied:
//
//   - a switch that says one thing about the machine (-m, -smp, -machine,
//     -cpu, -kernel, -append, -name...) replaces bake's value of that switch
//     in place, or is added when bake sets none;
//   - a repeatable switch (-device, -drive, -netdev, -object, -chardev...)
//     is added and bake's defaults stay, except that one naming the same
//     id= as a default (the network backend is id=user.0, as in Packer's
//     templates), a -device on that backend (netdev=user.0), or a -drive on
//     the build's disk (file= the working disk) replaces that default.
//
// Packer, by contrast, drops all its default drives and devices as soon as
// qemuargs names any -drive or -device.
func mergeArgs(defaults, user []qemuArg, workDisk string) []qemuArg {
	out := make([]qemuArg, len(defaults))
	copy(out, defaults)
	for _, u := range user {
		if len(u) == 0 {
			continue
		}
		name := u.name()
		if a, ok := aliases[name]; ok {
			u = append(qemuArg{a}, u[1:]...)
			name = a
		}
		idx := -1
		if repeatable[name] {
			idx = replacedDefault(out[:len(defaults)], u, workDisk)
		} else {
			for i, d := range out {
				if d.name() == name {
					idx = i
					break
				}
			}
		}
		if idx >= 0 {
			out[idx] = u
			continue
		}
		out = append(out, u)
	}
	return out
}

// replacedDefault returns the index of the default a repeatable switch u
// stands in for, or -1.
func replacedDefault(defaults []qemuArg, u qemuArg, workDisk string) int {
	if len(u) < 2 {
		return -1
	}
	uo := parseOpts(u[1])
	for i, d := range defaults {
		if d.name() != u.name() || len(d) < 2 {
			continue
		}
		do := parseOpts(d[1])
		if id := do["id"]; id != "" && uo["id"] == id {
			return i
		}
		switch u.name() {
		case "-device":
			if nd := do["netdev"]; nd != "" && uo["netdev"] == nd {
				return i
			}
			if dr := do["drive"]; dr != "" && uo["drive"] == dr {
				return i
			}
		case "-drive":
			if f := uo["file"]; f != "" && workDisk != "" && filepath.Clean(f) == filepath.Clean(workDisk) && do["file"] == workDisk {
				return i
			}
		}
	}
	return -1
}

// parseOpts parses a qemu option string "type,key=value,key=value" into
// its keys; a leading bare word is stored under "". Doubled commas, qemu's
// escape for a comma in a value, are kept in the value.
func parseOpts(s string) map[string]string {
	m := map[string]string{}
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			if i+1 < len(s) && s[i+1] == ',' {
				cur.WriteByte(',')
				i++
				continue
			}
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(s[i])
	}
	parts = append(parts, cur.String())
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			if i == 0 {
				m[""] = p
			}
			continue
		}
		m[k] = v
	}
	return m
}

// flatten turns switches into qemu's argv (without the binary).
func flatten(args []qemuArg) []string {
	var out []string
	for _, a := range args {
		out = append(out, a...)
	}
	return out
}

// argValues are the values a template's qemuargs may interpolate, with
// Packer's names: {{ .HTTPIP }}, {{ .HTTPPort }}, {{ .SSHHostPort }},
// {{ .OutputDir }}, {{ .Name }}.
type argValues struct {
	HTTPIP      string
	HTTPPort    int
	SSHHostPort int
	OutputDir   string
	Name        string
}

// interpolate expands Packer's {{ }} references in each argument.
// The build's disk is {{ .OutputDir }}/{{ .Name }} in Packer templates;
// bake provisions a working copy beside it, so that path is mapped to the
// working disk.
func interpolate(args [][]string, v argValues, workDisk string) ([]qemuArg, error) {
	out := make([]qemuArg, 0, len(args))
	final := filepath.Join(v.OutputDir, v.Name)
	for i, a := range args {
		var na qemuArg
		for _, s := range a {
			r, err := braces.Render(s, v)
			if err != nil {
				return nil, fmt.Errorf("qemuargs entry %d: %w", i+1, err)
			}
			s = r
			na = append(na, s)
		}
		if len(na) >= 2 && (na[0] == "-drive") {
			if f := parseOpts(na[1])["file"]; f != "" && filepath.Clean(f) == filepath.Clean(final) {
				na[1] = strings.Replace(na[1], "file="+f, "file="+workDisk, 1)
			}
		}
		out = append(out, na)
	}
	return out, nil
}

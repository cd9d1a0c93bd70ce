package templates

import (
	"fmt"
	"math/big"
	"net/netip"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// The cidr functions, as Terraform and Packer define them, over
// net/netip: prefixes are IPv4 or IPv6, host and network numbers may be
// negative to count from the end.

func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR expression: %w", err)
	}
	return p.Masked(), nil
}

func addrInt(a netip.Addr) *big.Int { return new(big.Int).SetBytes(a.AsSlice()) }

func intAddr(n *big.Int, v4 bool) netip.Addr {
	size := 16
	if v4 {
		size = 4
	}
	b := n.FillBytes(make([]byte, size))
	a, _ := netip.AddrFromSlice(b)
	return a
}

// hostAddr returns the num-th address of prefix (negative from the end).
func hostAddr(p netip.Prefix, num *big.Int) (netip.Addr, error) {
	bits := p.Addr().BitLen() - p.Bits()
	size := new(big.Int).Lsh(big.NewInt(1), uint(bits))
	n := new(big.Int).Set(num)
	if n.Sign() < 0 {
		n.Add(n, size)
	}
	if n.Sign() < 0 || n.Cmp(size) >= 0 {
		return netip.Addr{}, fmt.Errorf("prefix of %d bits cannot accommodate a host numbered %s", p.Bits(), num)
	}
	return intAddr(n.Add(n, addrInt(p.Addr())), p.Addr().Is4()), nil
}

func subnet(p netip.Prefix, newbits int, num *big.Int) (netip.Prefix, error) {
	nb := p.Bits() + newbits
	if newbits < 0 || nb > p.Addr().BitLen() {
		return netip.Prefix{}, fmt.Errorf("cannot extend prefix /%d by %d bits", p.Bits(), newbits)
	}
	max := new(big.Int).Lsh(big.NewInt(1), uint(newbits))
	if num.Sign() < 0 || num.Cmp(max) >= 0 {
		return netip.Prefix{}, fmt.Errorf("prefix extension of %d bits cannot accommodate a subnet numbered %s", newbits, num)
	}
	off := new(big.Int).Lsh(num, uint(p.Addr().BitLen()-nb))
	return netip.PrefixFrom(intAddr(off.Add(off, addrInt(p.Addr())), p.Addr().Is4()), nb), nil
}

var cidrHostFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "hostnum", Type: cty.Number}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		p, err := parsePrefix(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(0, err)
		}
		n, _ := args[1].AsBigFloat().Int(nil)
		a, err := hostAddr(p, n)
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(1, err)
		}
		return cty.StringVal(a.String()), nil
	},
})

var cidrNetmaskFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		p, err := parsePrefix(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(0, err)
		}
		if !p.Addr().Is4() {
			return cty.UnknownVal(cty.String), function.NewArgErrorf(0, "only IPv4 prefixes have a netmask")
		}
		m := new(big.Int).Lsh(big.NewInt(1), 32)
		m.Sub(m, new(big.Int).Lsh(big.NewInt(1), uint(32-p.Bits())))
		return cty.StringVal(intAddr(m, true).String()), nil
	},
})

var cidrSubnetFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "newbits", Type: cty.Number}, {Name: "netnum", Type: cty.Number}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		p, err := parsePrefix(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(0, err)
		}
		nb, _ := args[1].AsBigFloat().Int64()
		num, _ := args[2].AsBigFloat().Int(nil)
		s, err := subnet(p, int(nb), num)
		if err != nil {
			return cty.UnknownVal(cty.String), err
		}
		return cty.StringVal(s.String()), nil
	},
})

// cidrSubnetsFunc allocates consecutive subnets of the given sizes.
var cidrSubnetsFunc = function.New(&function.Spec{
	Params:   []function.Parameter{{Name: "prefix", Type: cty.String}},
	VarParam: &function.Parameter{Name: "newbits", Type: cty.Number},
	Type:     function.StaticReturnType(cty.List(cty.String)),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		p, err := parsePrefix(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.List(cty.String)), function.NewArgError(0, err)
		}
		if len(args) == 1 {
			return cty.ListValEmpty(cty.String), nil
		}
		bitLen := p.Addr().BitLen()
		next := addrInt(p.Addr())
		end := new(big.Int).Add(addrInt(p.Addr()), new(big.Int).Lsh(big.NewInt(1), uint(bitLen-p.Bits())))
		var out []cty.Value
		for i, a := range args[1:] {
			nb64, _ := a.AsBigFloat().Int64()
			nb := p.Bits() + int(nb64)
			if nb64 < 1 || nb > bitLen {
				return cty.UnknownVal(cty.List(cty.String)), function.NewArgErrorf(i+1, "cannot extend prefix /%d by %d bits", p.Bits(), nb64)
			}
			size := new(big.Int).Lsh(big.NewInt(1), uint(bitLen-nb))
			// Align next up to a multiple of size.
			rem := new(big.Int).Mod(next, size)
			if rem.Sign() != 0 {
				next.Add(next, new(big.Int).Sub(size, rem))
			}
			if new(big.Int).Add(next, size).Cmp(end) > 0 {
				return cty.UnknownVal(cty.List(cty.String)), function.NewArgErrorf(i+1, "not enough remaining address space for a subnet with a prefix of %d bits", nb)
			}
			out = append(out, cty.StringVal(netip.PrefixFrom(intAddr(next, p.Addr().Is4()), nb).String()))
			next = new(big.Int).Add(next, size)
		}
		return cty.ListVal(out), nil
	},
})

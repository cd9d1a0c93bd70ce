package main

import (
	"crypto"
	"errors"
	"flag"
	"fmt"

	"github.com/bake-tool/bake/artifacts/registry"
)

// regCmd is what the registry verbs (publish, channel, resolve, revoke,
// versions, attest, prune) share: a flag set with -json, the key flags,
// parsing with the positional count checked, the "bake VERB: err" exit,
// and the repository opened with the one set of registry options.
type regCmd struct {
	env     *cliEnv
	verb    string
	fs      *flag.FlagSet
	asJSON  *bool
	keyPath *string // -key PUB, when the verb takes it
	signKey *string // -sign-key K, when the verb takes it
}

// newRegCmd starts the flag set of verb; jsonUsage describes -json.
func newRegCmd(env *cliEnv, verb, synopsis, jsonUsage string) *regCmd {
	c := &regCmd{env: env, verb: verb, fs: newFlagSet(verb, synopsis, env.stderr)}
	c.asJSON = c.fs.Bool("json", false, jsonUsage)
	return c
}

// withKey adds -key PUB.
func (c *regCmd) withKey(usage string) *regCmd {
	c.keyPath = c.fs.String("key", "", usage)
	return c
}

// withSignKey adds -sign-key K (default $BAKE_SIGN_KEY).
func (c *regCmd) withSignKey(usage string) *regCmd {
	c.signKey = c.fs.String("sign-key", "", usage)
	return c
}

// parse parses args, flags before or after the positional arguments. It
// returns the positional arguments and ok; when ok is false the verb
// returns code (help asked: 0; bad flags or a positional count not among
// nargs: usage printed, 2).
func (c *regCmd) parse(args []string, nargs ...int) (pos []string, code int, ok bool) {
	pos, err := parseInterleaved(c.fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, exitOK, false
	}
	if err != nil {
		return nil, exitUsage, false
	}
	for _, n := range nargs {
		if len(pos) == n {
			return pos, exitOK, true
		}
	}
	if len(nargs) > 0 {
		c.fs.Usage()
		return nil, exitUsage, false
	}
	return pos, exitOK, true
}

// fail prints "bake VERB: err" and returns code.
func (c *regCmd) fail(code int, err error) int { return cliFail(c.env, c.verb)(code, err) }

// json reports whether -json was given.
func (c *regCmd) json() bool { return *c.asJSON }

// pub loads -key; nil, nil when it was not given.
func (c *regCmd) pub() (crypto.PublicKey, error) {
	if c.keyPath == nil || *c.keyPath == "" {
		return nil, nil
	}
	return loadPublicKey(*c.keyPath)
}

// signer loads -sign-key (or BAKE_SIGN_KEY), which is required; why says
// what it signs ("channel records are signed").
func (c *regCmd) signer(why string) (crypto.Signer, error) {
	path := ""
	if c.signKey != nil {
		path = *c.signKey
	}
	path = signKeyPath(path, c.env.environ)
	if path == "" {
		return nil, fmt.Errorf("-sign-key (or BAKE_SIGN_KEY) is required: %s", why)
	}
	return loadSigner(path, c.env.environ)
}

// open opens repository ref with the registry options every verb uses.
func (c *regCmd) open(ref string) (*registry.Repo, error) {
	return registry.Open(ref, registryOptions())
}

// registryOptions are the options of every registry verb: credentials
// from the Docker config (docker login, DOCKER_CONFIG).
func registryOptions() registry.Options { return registry.Options{} }

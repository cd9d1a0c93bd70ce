package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/term"

	"github.com/bake-tool/bake/artifacts"
)

const keygenSynopsis = `[-type ecdsa-p256|ed25519] [-out NAME] [-password] [-force]

Writes a signing key pair for run manifests: NAME.key (the private key,
mode 0600: PKCS#8 PEM, or cosign's encrypted format with -password) and
NAME.pub (the public key, PEM). The password comes from BAKE_SIGN_PASSWORD,
else COSIGN_PASSWORD, else it is asked for on the terminal.

Example:
  bake keygen -out release
  BAKE_SIGN_PASSWORD=... bake keygen -type ed25519 -password -out release
  bake build -sign-key release.key web.pkr.hcl`

func runKeygen(ctx context.Context, env *cliEnv, args []string) int {
	fset := newFlagSet("keygen", keygenSynopsis, env.stderr)
	keyType := fset.String("type", string(artifacts.KeyECDSAP256), "key `type`: ecdsa-p256 (cosign's default) or ed25519")
	out := fset.String("out", "bake", "write `NAME`.key and NAME.pub")
	encrypt := fset.Bool("password", false, "encrypt the private key in cosign's format")
	force := fset.Bool("force", false, "overwrite existing key files")
	pos, err := parseInterleaved(fset, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) > 0 {
		fmt.Fprintf(env.stderr, "bake keygen: unexpected argument %q (the name goes in -out)\n", pos[0])
		return exitUsage
	}
	kt := artifacts.KeyType(*keyType)
	if kt != artifacts.KeyECDSAP256 && kt != artifacts.KeyEd25519 {
		fmt.Fprintf(env.stderr, "bake keygen: unknown -type %q: use %s or %s\n", *keyType, artifacts.KeyECDSAP256, artifacts.KeyEd25519)
		return exitUsage
	}
	if *out == "" {
		fmt.Fprintln(env.stderr, "bake keygen: -out must not be empty")
		return exitUsage
	}
	privPath, pubPath := *out+".key", *out+".pub"
	if !*force {
		for _, p := range []string{privPath, pubPath} {
			_, err := os.Lstat(p)
			if err == nil {
				fmt.Fprintf(env.stderr, "bake keygen: %s already exists; refusing to overwrite it (use -force)\n", p)
				return exitFailed
			}
			if !errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintf(env.stderr, "bake keygen: %v\n", err)
				return exitFailed
			}
		}
	}

	key, err := artifacts.GenerateKey(kt)
	if err != nil {
		fmt.Fprintf(env.stderr, "bake keygen: %v\n", err)
		return exitFailed
	}
	var privPEM []byte
	if *encrypt {
		pw, err := keygenPassword(env)
		if err != nil {
			fmt.Fprintf(env.stderr, "bake keygen: %v\n", err)
			return exitUsage
		}
		privPEM, err = artifacts.MarshalEncryptedPrivateKey(key, pw)
		clear(pw)
		if err != nil {
			fmt.Fprintf(env.stderr, "bake keygen: %v\n", err)
			return exitFailed
		}
	} else {
		if privPEM, err = artifacts.MarshalPrivateKey(key); err != nil {
			fmt.Fprintf(env.stderr, "bake keygen: %v\n", err)
			return exitFailed
		}
	}
	pubPEM, err := artifacts.MarshalPublicKey(key.Public())
	if err != nil {
		fmt.Fprintf(env.stderr, "bake keygen: %v\n", err)
		return exitFailed
	}
	hint, _ := artifacts.KeyHint(key.Public())
	if err := artifacts.WriteFileAtomic(privPath, privPEM, 0o600); err != nil {
		fmt.Fprintf(env.stderr, "bake keygen: %v\n", err)
		return exitFailed
	}
	if err := artifacts.WriteFileAtomic(pubPath, pubPEM, 0o644); err != nil {
		fmt.Fprintf(env.stderr, "bake keygen: %v\n", err)
		return exitFailed
	}
	how := "unencrypted PKCS#8"
	if *encrypt {
		how = "encrypted, cosign format"
	}
	fmt.Fprintf(env.stdout, "Private key: %s (%s, %s, mode 0600)\n", privPath, kt, how)
	fmt.Fprintf(env.stdout, "Public key:  %s (hint %s)\n", pubPath, hint)
	return exitOK
}

// keygenPassword returns the password for -password: from the
// environment, else asked twice on the terminal.
func keygenPassword(env *cliEnv) ([]byte, error) {
	if pw, from, ok := signPassword(env.environ); ok {
		if len(pw) == 0 {
			return nil, fmt.Errorf("%s is set but empty; an encrypted key needs a password", from)
		}
		return pw, nil
	}
	f, ok := env.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, fmt.Errorf("-password needs %s (or %s) set, or a terminal to ask on", envSignPassword, envCosignPassword)
	}
	fmt.Fprint(env.stderr, "Password for the private key: ")
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(env.stderr)
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	fmt.Fprint(env.stderr, "Password again: ")
	again, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(env.stderr)
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	if !bytes.Equal(pw, again) {
		return nil, errors.New("the passwords do not match")
	}
	if len(pw) == 0 {
		return nil, errors.New("empty password")
	}
	return pw, nil
}

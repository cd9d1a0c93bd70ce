package main

import (
	"crypto"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/bake-tool/bake/artifacts"
)

// Environment variables for signing.
const (
	// envSignKey names the signing key file when -sign-key is not given.
	envSignKey = "BAKE_SIGN_KEY"
	// envSignPassword holds the password of an encrypted signing key; it
	// is read first.
	envSignPassword = "BAKE_SIGN_PASSWORD"
	// envCosignPassword is cosign's variable, read when envSignPassword is
	// not set, so a cosign key works unchanged.
	envCosignPassword = "COSIGN_PASSWORD"
)

// environValue looks key up in environ ("K=V" entries, the last one
// winning, as os.Getenv does).
func environValue(environ []string, key string) (string, bool) {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// signKeyPath returns the signing key file: flagValue when set, else
// BAKE_SIGN_KEY, else "" (the manifest is written unsigned).
func signKeyPath(flagValue string, environ []string) string {
	if flagValue != "" {
		return flagValue
	}
	v, _ := environValue(environ, envSignKey)
	return v
}

// signPassword returns the password for an encrypted key, from
// BAKE_SIGN_PASSWORD, else COSIGN_PASSWORD, and the variable it came from.
// An empty value counts (cosign keys may have an empty password).
func signPassword(environ []string) (pw []byte, from string, ok bool) {
	for _, k := range []string{envSignPassword, envCosignPassword} {
		if v, ok := environValue(environ, k); ok {
			return []byte(v), k, true
		}
	}
	return nil, "", false
}

// loadSigner reads the private key at path for signing the run manifest
// (bake build -sign-key / BAKE_SIGN_KEY): PKCS#8 PEM, SEC 1 PEM, or
// cosign's encrypted format with the password from BAKE_SIGN_PASSWORD or
// COSIGN_PASSWORD. Errors name the file and the cause, never key material
// or the password.
func loadSigner(path string, environ []string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	var from string
	key, err := artifacts.ParsePrivateKey(data, func() ([]byte, error) {
		pw, f, ok := signPassword(environ)
		if !ok {
			return nil, fmt.Errorf("%w: set %s (or %s)", artifacts.ErrPasswordRequired, envSignPassword, envCosignPassword)
		}
		from = f
		return pw, nil
	})
	switch {
	case errors.Is(err, artifacts.ErrWrongPassword):
		return nil, fmt.Errorf("signing key %s: %w (password from %s)", path, err, from)
	case err != nil:
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return key, nil
}

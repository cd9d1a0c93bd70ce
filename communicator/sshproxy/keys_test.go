package sshproxy

import (
	"crypto/ed25519"
	"encoding/pem"
	"strconv"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// testKeys remembers the private key of each signer start made.
var testKeys = map[string]ed25519.PrivateKey{}

func privOf(t *testing.T, s gossh.Signer) ed25519.PrivateKey {
	t.Helper()
	k, ok := testKeys[string(s.PublicKey().Marshal())]
	if !ok {
		t.Fatal("unknown signer")
	}
	return k
}

func pemEncode(b *pem.Block) []byte { return pem.EncodeToMemory(b) }

func portOf(s *Server) string { return strconv.Itoa(s.Port()) }

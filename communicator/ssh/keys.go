package ssh

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"

	gossh "golang.org/x/crypto/ssh"
)

// KeyPair is a generated SSH key.
type KeyPair struct {
	// PrivateKey is the private key as an OpenSSH PEM block, ready for
	// Config.PrivateKey or a file with mode 0600.
	PrivateKey []byte
	// AuthorizedKey is the public key as one authorized_keys line, with a
	// trailing newline.
	AuthorizedKey []byte
}

// GenerateKeyPair returns a new ed25519 key pair, the temporary key a
// builder installs on a machine when the template gives none.
func GenerateKeyPair() (*KeyPair, error) {
	const comment = "bake-temporary-key"
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ssh: generate ed25519 key: %w", err)
	}
	block, err := gossh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("ssh: encode private key: %w", err)
	}
	sshPub, err := gossh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("ssh: encode public key: %w", err)
	}
	line := bytes.TrimSuffix(gossh.MarshalAuthorizedKey(sshPub), []byte("\n"))
	line = append(line, " "+comment+"\n"...)
	return &KeyPair{PrivateKey: pem.EncodeToMemory(block), AuthorizedKey: line}, nil
}

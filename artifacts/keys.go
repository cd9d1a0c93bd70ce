package artifacts

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/scrypt"
)

// KeyType names a signing key algorithm.
type KeyType string

// The key types bake signs with.
const (
	// KeyECDSAP256 is ECDSA on P-256 with SHA-256 and ASN.1 DER signatures,
	// cosign's default. It is bake's default.
	KeyECDSAP256 KeyType = "ecdsa-p256"
	// KeyEd25519 is pure Ed25519 over the PAE bytes.
	KeyEd25519 KeyType = "ed25519"
)

// PEM block types of the key files bake reads and writes.
const (
	pemPrivateKey          = "PRIVATE KEY"                    // PKCS#8, openssl genpkey
	pemECPrivateKey        = "EC PRIVATE KEY"                 // SEC 1, openssl ecparam -genkey
	pemPublicKey           = "PUBLIC KEY"                     // PKIX
	pemSigstoreEncrypted   = "ENCRYPTED SIGSTORE PRIVATE KEY" // cosign 2.x and later
	pemCosignEncryptedOld  = "ENCRYPTED COSIGN PRIVATE KEY"   // cosign 1.x, same body
	pemPKCS8EncryptedNoSup = "ENCRYPTED PRIVATE KEY"          // PKCS#8 PBES2, not supported
)

// ErrWrongPassword is returned (wrapped) when an encrypted key does not
// open with the password given.
var ErrWrongPassword = errors.New("wrong password or corrupt key")

// ErrPasswordRequired is returned (wrapped) when a key is encrypted and no
// password was given.
var ErrPasswordRequired = errors.New("key is encrypted and no password was given")

// GenerateKey returns a new private key of type t.
func GenerateKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case KeyECDSAP256, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyEd25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	default:
		return nil, fmt.Errorf("unknown key type %q (want %s or %s)", t, KeyECDSAP256, KeyEd25519)
	}
}

// checkKey reports whether bake can sign with, or verify by, pub.
func checkKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return fmt.Errorf("unsupported ECDSA curve %s (want P-256)", k.Curve.Params().Name)
		}
		return nil
	case ed25519.PublicKey:
		return nil
	default:
		return fmt.Errorf("unsupported key type %T (want ECDSA P-256 or Ed25519)", pub)
	}
}

// MarshalPrivateKey returns key as an unencrypted PKCS#8 "PRIVATE KEY" PEM
// block, the format openssl genpkey writes.
func MarshalPrivateKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
}

// MarshalPublicKey returns pub as a PKIX "PUBLIC KEY" PEM block.
func MarshalPublicKey(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: der}), nil
}

// KeyHint returns the base64 (standard) sha256 of pub's PKIX DER, the
// public key hint a Sigstore bundle carries.
func KeyHint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("marshal public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// ParsePublicKey reads a "PUBLIC KEY" PEM block holding an ECDSA P-256 or
// Ed25519 key.
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("parse public key: no PEM block found")
	}
	if block.Type != pemPublicKey {
		return nil, fmt.Errorf("parse public key: PEM block is %q, want %q", block.Type, pemPublicKey)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	if err := checkKey(pub); err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	return pub, nil
}

// ParsePrivateKey reads a private key PEM: PKCS#8 "PRIVATE KEY", SEC 1
// "EC PRIVATE KEY", or cosign's "ENCRYPTED SIGSTORE PRIVATE KEY" (also the
// older "ENCRYPTED COSIGN PRIVATE KEY"). password is called only for an
// encrypted key; it may be nil, which gives ErrPasswordRequired for one.
// A wrong password gives ErrWrongPassword. No error text contains key
// material or the password.
func ParsePrivateKey(data []byte, password func() ([]byte, error)) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("parse private key: no PEM block found")
	}
	var der []byte
	switch block.Type {
	case pemPrivateKey, pemECPrivateKey:
		der = block.Bytes
	case pemSigstoreEncrypted, pemCosignEncryptedOld:
		if password == nil {
			return nil, fmt.Errorf("parse private key: %w", ErrPasswordRequired)
		}
		pw, err := password()
		if err != nil {
			return nil, fmt.Errorf("parse private key: %w", err)
		}
		der, err = decryptCosign(block.Bytes, pw)
		if err != nil {
			return nil, fmt.Errorf("parse private key: %w", err)
		}
	case pemPKCS8EncryptedNoSup:
		return nil, errors.New("parse private key: PKCS#8 password-encrypted keys are not supported; use cosign's format (bake keygen -password) or an unencrypted key")
	default:
		return nil, fmt.Errorf("parse private key: unsupported PEM block %q", block.Type)
	}
	var key any
	var err error
	if block.Type == pemECPrivateKey {
		key, err = x509.ParseECPrivateKey(der)
	} else {
		key, err = x509.ParsePKCS8PrivateKey(der)
	}
	if err != nil {
		// The x509 errors name the structure, never its content.
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("parse private key: unsupported key type %T", key)
	}
	if err := checkKey(signer.Public()); err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	return signer, nil
}

// cosign's encrypted key format, from go-securesystemslib's "encrypted"
// package: the PEM body is JSON holding scrypt parameters and salt, the
// NaCl secretbox nonce, and the sealed PKCS#8 DER ([]byte fields are
// standard base64 in JSON).
type cosignEncrypted struct {
	KDF struct {
		Name   string `json:"name"`
		Params struct {
			N int `json:"N"`
			R int `json:"r"`
			P int `json:"p"`
		} `json:"params"`
		Salt []byte `json:"salt"`
	} `json:"kdf"`
	Cipher struct {
		Name  string `json:"name"`
		Nonce []byte `json:"nonce"`
	} `json:"cipher"`
	Ciphertext []byte `json:"ciphertext"`
}

const (
	scryptN       = 65536  // cosign's current parameters
	scryptNLegacy = 32768  // keys from older tools
	scryptNOWASP  = 131072 // the strongest go-securesystemslib writes
	scryptR       = 8
	scryptP       = 1
	boxKeySize    = 32
	boxNonceSize  = 24
	saltSize      = 32
)

// decryptCosign opens a cosign encrypted key body. The scrypt parameters
// are checked against the known ones so a tampered file cannot make bake
// spend unbounded memory.
func decryptCosign(body, password []byte) ([]byte, error) {
	var e cosignEncrypted
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, errors.New("encrypted key is corrupt: its body is not JSON")
	}
	if e.KDF.Name != "scrypt" {
		return nil, fmt.Errorf("encrypted key: unknown kdf %q", e.KDF.Name)
	}
	if e.Cipher.Name != "nacl/secretbox" {
		return nil, fmt.Errorf("encrypted key: unknown cipher %q", e.Cipher.Name)
	}
	p := e.KDF.Params
	if (p.N != scryptN && p.N != scryptNLegacy && p.N != scryptNOWASP) || p.R != scryptR || p.P != scryptP {
		return nil, fmt.Errorf("encrypted key: unexpected scrypt parameters N=%d r=%d p=%d", p.N, p.R, p.P)
	}
	if len(e.Cipher.Nonce) != boxNonceSize {
		return nil, fmt.Errorf("encrypted key: nonce is %d bytes, want %d", len(e.Cipher.Nonce), boxNonceSize)
	}
	k, err := scrypt.Key(password, e.KDF.Salt, p.N, p.R, p.P, boxKeySize)
	if err != nil {
		return nil, fmt.Errorf("encrypted key: %w", err)
	}
	var key [boxKeySize]byte
	var nonce [boxNonceSize]byte
	copy(key[:], k)
	copy(nonce[:], e.Cipher.Nonce)
	plain, ok := secretbox.Open(nil, e.Ciphertext, &nonce, &key)
	if !ok {
		return nil, ErrWrongPassword
	}
	return plain, nil
}

// MarshalEncryptedPrivateKey returns key in cosign's "ENCRYPTED SIGSTORE
// PRIVATE KEY" format, sealed with password (scrypt N=65536 r=8 p=1 and a
// NaCl secretbox around the PKCS#8 DER). cosign reads it with the same
// password in COSIGN_PASSWORD.
func MarshalEncryptedPrivateKey(key crypto.Signer, password []byte) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	var e cosignEncrypted
	e.KDF.Name = "scrypt"
	e.KDF.Params.N, e.KDF.Params.R, e.KDF.Params.P = scryptN, scryptR, scryptP
	e.KDF.Salt = make([]byte, saltSize)
	e.Cipher.Name = "nacl/secretbox"
	e.Cipher.Nonce = make([]byte, boxNonceSize)
	if _, err := rand.Read(e.KDF.Salt); err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	if _, err := rand.Read(e.Cipher.Nonce); err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	k, err := scrypt.Key(password, e.KDF.Salt, scryptN, scryptR, scryptP, boxKeySize)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	var bk [boxKeySize]byte
	var nonce [boxNonceSize]byte
	copy(bk[:], k)
	copy(nonce[:], e.Cipher.Nonce)
	e.Ciphertext = secretbox.Seal(nil, der, &nonce, &bk)
	body, err := json.Marshal(&e)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemSigstoreEncrypted, Bytes: body}), nil
}

// Package artifacts holds what builds produce: the Artifact type, the
// post-processor interface, and the signed run manifest.
//
// The run manifest (see MANIFEST.md) is an in-toto Statement v1 whose
// subjects are the run's artifacts and whose predicate
// (PredicateTypeV1, schema in schema/manifest-predicate.v1.json) records
// every build with its status, parent and artifacts. The engine calls
// NewRunManifest after all builds and WriteRunManifest to sign it (DSSE
// over the PAE bytes, ECDSA P-256 or Ed25519) into a Sigstore bundle v0.3
// written atomically; Verify checks such a bundle, and so can openssl
// and cosign with only the public key. Keys are read with
// ParsePrivateKey (PKCS#8 PEM or cosign's encrypted format) and
// ParsePublicKey. WriteFileAtomic and LockFile are the write primitives
// the post-processors share.
package artifacts

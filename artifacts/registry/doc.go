// Package registry stores bake's signed run manifests in an OCI registry
// and reads them back for deployers: versions (a run manifest bundle as an
// OCI 1.1 artifact, tagged with the version name), channels (signed,
// sequenced records chained by digest, tagged channel-NAME) and
// revocations (signed records tagged revoked-VERSION). Resolve verifies
// every signature it reads and refuses revoked versions and replayed
// channel records.
//
// Writes are ordered so that a reader never sees half of anything: blobs
// first, then the manifest by digest, then the tag. Storage goes through
// github.com/google/go-containerregistry, so any OCI registry works
// (distribution, ECR, GHCR, Harbor); credentials come from the Docker
// config (docker login) unless Options say otherwise.
package registry

// Package registry stores bake's signed run manifests in an OCI registry
// and reads them back for deployers: versions (a run manifest bundle as an
// OCI 1.1 artifact, tagged with the version name), channels (signed,
// sequenced records chained by digest, tagged channel-NAME) and
// revocations (signed records tagged revoked-VERSION). Resolve verifies
// every signature it reads and refuses revoked versions and replayed
// channel records.
//
// Attach puts a run's signed statement next to each image it pushed, in
// the image's repository: cosign's sha256-<hex>.att tag of DSSE envelopes
// (what cosign verify-attestation reads) and, where the registry has the
// OCI 1.1 referrers API, a referrer carrying the whole bundle;
// VerifyAttestations checks them. PlanPrune and Prune remove old versions
// with what they delivered, through a Deleter per kind of deliverable
// (images and files here, AMIs wired in by cmd/bake), so that this package
// imports no builder.
//
// Writes are ordered so that a reader never sees half of anything: blobs
// first, then the manifest by digest, then the tag. Storage goes through
// github.com/google/go-containerregistry, so any OCI registry works
// (distribution, ECR, GHCR, Harbor); credentials come from the Docker
// config (docker login) unless Options say otherwise.
package registry

// Package postprocessors holds the file-oriented post-processors that any
// build can end with — manifest (packer-manifest.json), checksum and
// compress — starting with their typed, validated configs. The docker
// post-processors live with the docker builder; shell-local's config is
// the provisioner's.
package postprocessors

// Package cache is bake's build cache: content keys chained step by step
// over a build's typed, evaluated configuration, and the local index of
// what each key names (a docker image, a disk file, an AMI per region).
//
// The engine computes one key per provisioner: the key of the base (what
// the builder resolved: an image id, a disk's sha256, an AMI id) and of the
// builder options that change the machine, chained with each provisioner's
// configuration (see Keyer). A builder finds, through builder.Options, the
// longest prefix of steps whose keys it holds, starts from there and stores
// the states it makes. The Store keeps one index file per key under
// $BAKE_CACHE_DIR (else the user's cache directory + "/bake"); the payload
// lives where the builder keeps it (the docker image store, the cache
// directory's blobs, AMIs tagged with the key).
//
// Nothing in the index holds an input in clear: a key is a sha256, and a
// sensitive value enters it only as its own sha256.
package cache

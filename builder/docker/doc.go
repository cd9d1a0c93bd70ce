// Package docker is the docker source and the docker-tag, docker-push,
// docker-save and docker-import post-processors: their typed configs and,
// through the Docker Engine API, the builder itself.
package docker

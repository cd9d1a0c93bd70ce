// Package docker is the docker source and the docker-tag, docker-push,
// docker-save and docker-import post-processors: their typed configs and,
// through the Docker Engine API, the builder itself.
//
// Everything goes through github.com/docker/docker/client (created from
// the environment, DOCKER_HOST and friends, with API version negotiation),
// never the docker CLI. The package declares the subset of the client it
// uses as dockerAPI.
//
// A build connects to the engine, pulls the image (with the login*
// credentials, sent only to login_server's registry) or finds it locally
// (pull = false), then creates and starts a container labelled
// dev.bake.run-id=RUN and dev.bake.build=TYPE.NAME that runs a shell loop
// as its entrypoint, so any image with /bin/sh works without a TTY. The
// provisioners reach it through the exec communicator: commands run with
// /bin/sh -c through the exec API (exit code from exec inspect), files move
// as tar streams through the archive API with the exec user's uid and gid
// in the tar headers (fix_upload_owner), never a chown pass.
//
// The build ends with a commit (changes applied by the engine's own
// Dockerfile parser, as `docker commit --change`; the base image's CMD and
// ENTRYPOINT are set explicitly in the commit so the keep-alive entrypoint
// never leaks into the image), an export of the container's file system to
// export_path (streamed, hashed and renamed into place), or nothing
// (discard). The container is force-removed, with its anonymous volumes,
// on every path; with -on-error=abort it is left and reported with the
// command that removes it.
//
// A committed image carries the dev.bake.* labels too: the engine's commit
// merges the container's labels into the image and offers no way to drop
// them. They record which run built the image.
package docker

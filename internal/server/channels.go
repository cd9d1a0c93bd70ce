package server

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/artifacts/registry"
)

// errNoRegistry is returned for channel operations on a pipeline that
// publishes nowhere.
var errNoRegistry = errors.New("the pipeline has no publish repository")

func openRepo(p *Pipeline, o registry.Options) (*registry.Repo, error) {
	if p.Publish == "" {
		return nil, errNoRegistry
	}
	return registry.Open(p.Publish, o)
}

// SetChannel points channel of p's repository at version with a record
// signed by p's key.
func SetChannel(ctx context.Context, p *Pipeline, channel, version, reason, by string, o registry.Options) (*registry.Record, error) {
	repo, err := openRepo(p, o)
	if err != nil {
		return nil, err
	}
	key, err := loadKey(p.SignKey)
	if err != nil {
		return nil, err
	}
	return repo.SetChannel(ctx, channel, version, key, registry.SetOptions{By: by, Reason: reason})
}

// RollbackChannel points channel of p's repository back at the version
// before its current one.
func RollbackChannel(ctx context.Context, p *Pipeline, channel, reason, by string, o registry.Options) (*registry.Record, error) {
	repo, err := openRepo(p, o)
	if err != nil {
		return nil, err
	}
	key, err := loadKey(p.SignKey)
	if err != nil {
		return nil, err
	}
	return repo.Rollback(ctx, channel, key, registry.SetOptions{By: by, Reason: reason})
}

// Channels returns the heads of p's channels, verified with p's key.
func Channels(ctx context.Context, p *Pipeline, o registry.Options) ([]*registry.Record, error) {
	repo, err := openRepo(p, o)
	if err != nil {
		return nil, err
	}
	key, err := loadKey(p.SignKey)
	if err != nil {
		return nil, err
	}
	return repo.Channels(ctx, key.Public())
}

// ChannelHistory returns channel's records, newest first, verified.
func ChannelHistory(ctx context.Context, p *Pipeline, channel string, o registry.Options) ([]*registry.Record, error) {
	repo, err := openRepo(p, o)
	if err != nil {
		return nil, err
	}
	key, err := loadKey(p.SignKey)
	if err != nil {
		return nil, err
	}
	return repo.History(ctx, channel, key.Public())
}

// loadKey reads an unencrypted private key (the server has no terminal
// to ask a password on).
func loadKey(path string) (crypto.Signer, error) {
	if path == "" {
		return nil, errors.New("the pipeline has no sign_key")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sign key: %w", err)
	}
	k, err := artifacts.ParsePrivateKey(data, func() ([]byte, error) {
		return nil, fmt.Errorf("sign key %s is encrypted: bake serve needs an unencrypted key file readable only by its user", path)
	})
	if err != nil {
		return nil, fmt.Errorf("sign key %s: %w", path, err)
	}
	return k, nil
}

#!/bin/sh
set -eu
echo installing

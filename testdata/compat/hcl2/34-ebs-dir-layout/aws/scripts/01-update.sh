#!/bin/sh
sudo apt-get update

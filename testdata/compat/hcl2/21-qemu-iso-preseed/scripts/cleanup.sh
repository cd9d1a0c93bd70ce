#!/bin/sh
apt-get clean

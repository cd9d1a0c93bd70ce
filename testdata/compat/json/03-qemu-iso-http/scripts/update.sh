#!/bin/sh
apt-get -y upgrade

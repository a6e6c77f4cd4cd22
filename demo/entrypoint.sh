#!/bin/bash
# The demo image's entry point: the workspace's ROS environment, then the command. A
# container advertises its address (ROS_IP) unless told otherwise, so that nodes are
# reachable from other containers and from the host (tracing from the host resolves
# a node through its XML-RPC URI).
set -e
source /rostrace/ws/devel/setup.bash
if [ -z "${ROS_IP:-}" ] && [ -z "${ROS_HOSTNAME:-}" ]; then
  ROS_IP=$(hostname -i | awk '{print $1}')
  export ROS_IP
fi
exec "$@"

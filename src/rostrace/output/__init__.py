"""What leaves the process as ROS messages or files: rospy messages, HTML reports from bags."""

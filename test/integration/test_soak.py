"""Issue 12 soak, short (the long one is `make bench`, section soak): targets SIGKILLed
and restarted, the master restarted, the monitor SIGKILLed."""
from soak import Soak


def test_soak_short(ros, tmp_path):
    soak = Soak(ros, str(tmp_path))
    soak.start()
    soak.kill_targets(8)
    soak.restart_master(1)
    soak.kill_targets(2)
    soak.flat(fd_slack=4, rss_slack_kib=16 * 1024)
    soak.kill_monitor(2)

"""bench/swarm/test_player.py: the player model against known schedules.

No network: each test feeds `Playback` a schedule of (time, bytes arrived)
and checks the startup, rebuffers and seek resumes that schedule must give.
Run from bench/swarm: `python3 -m unittest test_player` (tests/player_model.rs
does this under `cargo test`).
"""

import unittest

from player import Playback, seek_targets

RATE = 1000.0  # bytes/s: easy arithmetic


def feed(pb, schedule):
    for t, n in schedule:
        pb.arrived(t, n)


class StartAndStalls(unittest.TestCase):
    def test_startup_waits_for_the_start_buffer(self):
        pb = Playback(RATE, 2.0, None, 0.0)
        feed(pb, [(1.0, 1000), (1.5, 500)])
        self.assertIsNone(pb.startup_s)
        feed(pb, [(2.0, 500)])
        self.assertEqual(pb.startup_s, 2.0)
        self.assertTrue(pb.playing)

    def test_one_known_rebuffer(self):
        # 2 s buffered at t=2, played out by t=4, 2 s more arrive at t=7.
        pb = Playback(RATE, 2.0, None, 0.0)
        feed(pb, [(1.0, 1000), (2.0, 1000), (7.0, 2000)])
        pb.finish(8.0)
        r = pb.report()
        self.assertEqual(r["startup_s"], 2.0)
        self.assertEqual(r["rebuffers"], [[4.0, 3.0]])
        self.assertEqual(r["rebuffer_count"], 1)
        self.assertEqual(r["rebuffer_total_s"], 3.0)
        self.assertEqual(r["played_bytes"], 3000)

    def test_resume_needs_the_start_buffer_again(self):
        # A trickle after a stall does not restart playback until 2 s are in.
        pb = Playback(RATE, 2.0, None, 0.0)
        feed(pb, [(0.0, 2000), (3.0, 500), (4.0, 500), (5.0, 1000)])
        pb.finish(5.0)
        self.assertEqual(pb.report()["rebuffers"], [[2.0, 3.0]])

    def test_arrivals_faster_than_playback_never_stall(self):
        pb = Playback(RATE, 2.0, None, 0.0)
        feed(pb, [(i * 0.5, 600) for i in range(1, 121)])  # 1200 B/s for 60 s
        pb.finish(60.0)
        r = pb.report()
        self.assertEqual(r["rebuffer_count"], 0)
        self.assertAlmostEqual(r["startup_s"], 2.0)
        self.assertEqual(r["played_bytes"], 58000)

    def test_a_stall_still_going_at_the_end_counts_up_to_the_end(self):
        pb = Playback(RATE, 1.0, None, 0.0)
        feed(pb, [(0.0, 1000)])
        pb.finish(10.0)
        self.assertEqual(pb.report()["rebuffers"], [[1.0, 9.0]])

    def test_two_stalls_and_the_ones_after_30_s(self):
        pb = Playback(RATE, 1.0, None, 0.0)
        feed(pb, [(0.0, 10000), (12.0, 25000), (40.0, 1000)])
        pb.finish(41.0)
        r = pb.report()
        # Dry at 10 s (back at 12), dry at 37 s (back at 40).
        self.assertEqual(r["rebuffers"], [[10.0, 2.0], [37.0, 3.0]])
        self.assertEqual(r["rebuffers_after_30s"], 1)
        self.assertEqual(r["rebuffer_total_s"], 5.0)

    def test_the_end_of_the_file_is_no_stall(self):
        pb = Playback(RATE, 2.0, 3000, 0.0)
        feed(pb, [(0.0, 2000), (1.0, 1000)])
        pb.finish(10.0)
        r = pb.report()
        self.assertEqual(r["rebuffer_count"], 0)
        self.assertEqual(r["played_bytes"], 3000)
        self.assertTrue(pb.at_end())

    def test_a_short_last_piece_of_the_file_starts_playback(self):
        # After a seek to 500 bytes before the end, 500 bytes are enough.
        pb = Playback(RATE, 2.0, 10000, 0.0)
        pb.seek(0.0, 9500)
        feed(pb, [(0.25, 500)])
        self.assertEqual(pb.seeks[-1]["resume_s"], 0.25)


class Seeks(unittest.TestCase):
    def test_time_to_resume_after_a_seek(self):
        pb = Playback(RATE, 2.0, 100000, 0.0)
        feed(pb, [(0.0, 5000)])
        pb.seek(3.0, 50000)
        feed(pb, [(4.0, 1000), (4.5, 1000)])
        pb.finish(5.0)
        r = pb.report()
        self.assertEqual(r["seeks"], [{"at_s": 3.0, "from": 3000, "to": 50000, "resume_s": 1.5}])
        self.assertEqual(r["rebuffer_count"], 0)  # a seek wait is not a rebuffer
        self.assertEqual(r["startup_s"], 0.0)

    def test_a_stall_cut_short_by_a_seek_counts_up_to_the_seek(self):
        pb = Playback(RATE, 1.0, 100000, 0.0)
        feed(pb, [(0.0, 1000)])
        pb.seek(4.0, 20000)
        feed(pb, [(5.0, 1000)])
        r = pb.report()
        self.assertEqual(r["rebuffers"], [[1.0, 3.0]])
        self.assertEqual(r["seeks"][0]["resume_s"], 1.0)

    def test_a_seek_that_never_resumed_reports_none(self):
        pb = Playback(RATE, 1.0, 100000, 0.0)
        feed(pb, [(0.0, 1000)])
        pb.seek(0.5, 20000)
        pb.seek(1.0, 40000)
        feed(pb, [(3.0, 1000)])
        self.assertEqual([s["resume_s"] for s in pb.seeks], [None, 2.0])

    def test_scripted_seek_targets(self):
        self.assertEqual(seek_targets("fwd20", 100, 1000), 300)
        self.assertEqual(seek_targets("back10", 300, 1000), 200)
        self.assertEqual(seek_targets("back10", 50, 1000), 0)
        self.assertEqual(seek_targets("to90", 0, 1000), 900)
        self.assertEqual(seek_targets("fwd20", 950, 1000), 999)
        with self.assertRaises(ValueError):
            seek_targets("sideways", 0, 1000)


if __name__ == "__main__":
    unittest.main()

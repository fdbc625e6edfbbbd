"""The data layout and the defaults that more than one file needs, each defined once here.

MIDI songs become note-state matrices over MIDI pitches `LOWEST_NOTE .. HIGHEST_NOTE - 1`, one row
per 16th note (`FRAMES_PER_BEAT` rows a beat), and the RBM sees `NUM_TIMESTEPS` rows at once. The
paper's four benchmarks are 88-key piano rolls from MIDI `BENCHMARK_LOWEST`, one chord a step.
"""
LOWEST_NOTE = 24        # lowest MIDI pitch of a note-state matrix (the original's lowerBound)
HIGHEST_NOTE = 102      # one past the highest (the original's upperBound)
SPAN = HIGHEST_NOTE - LOWEST_NOTE  # pitches per half of a note-state frame: 78
FRAMES_PER_BEAT = 4     # 16th notes
NUM_TIMESTEPS = 4       # note-state frames in one RBM visible vector: one beat (the original: 5)

BENCHMARK_LOWEST = 21   # MIDI pitch of a benchmark roll's column 0 (A0, the lowest piano key)
BENCHMARK_KEYS = 88     # columns of a benchmark frame: MIDI 21..108
BENCHMARK_SPLITS = ("train", "valid", "test")

MIDI_DIR = "Pop_Music_Midi"                     # the bundled training songs
CHECKPOINT_DIR = "parameter_checkpoints"        # where the scripts keep checkpoints
INIT_CHECKPOINT = "parameter_checkpoints/initialized"  # written by weight_initializations.py
MUSIC_DIR = "music_outputs"                     # where generated songs go

KEY = "c"               # MIDI songs' keys: "c" moves each to C major / A minor, or "as-is"
K_TRAIN = 25            # Gibbs steps of CD-k in training on MIDI songs (the original: 15)
K_TRAIN_BENCHMARK = 15  # ... on a benchmark (--dataset, the paper's setting), as the original
K_GENERATE = 40         # Gibbs steps per generated vector (the original: 25)
LAST_STEP = 0.4         # temperature of the unlikely notes of each generated vector's last visible
                        # step (the original: 1, a plain draw)

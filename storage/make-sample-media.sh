#!/usr/bin/env bash
# Regenerates the sample media library that the server serves by default.
# Everything is synthesised from ffmpeg's built-in lavfi sources (testsrc2 +
# drawtext for the picture, aevalsrc for the sound), so no input files are
# needed. See docs/sample-media.md for what each file is and how it was checked.
#
# Usage: bash storage/make-sample-media.sh
#
# The files are written to storage/sample-library/, overwriting existing ones.
# Picture: testsrc2 with its own small clock/frame counter (top left) plus a
# large running timestamp (drawtext, fontconfig's default font).
# Sound: a mono tone whose pitch steps up every second (440, 484, ... 836 Hz)
# and drops back to 440 Hz every 10 s, so a seek is audible. Every pitch is a
# whole number of Hz, so the phase is 0 at each whole second and the steps
# do not click.
# Bit-exact flags, no metadata and single-threaded encoders make repeated runs
# with the same ffmpeg build produce byte-identical files.
set -euo pipefail

if ! command -v ffmpeg >/dev/null 2>&1; then
  echo "make-sample-media.sh: ffmpeg not found in PATH" >&2
  exit 1
fi

cd "$(dirname "${BASH_SOURCE[0]}")/sample-library"
mkdir -p clips

# 1. sample-vp9-opus.webm: VP9 + Opus, 640x360, 25 fps, 60 s, keyframe every 2 s.
ffmpeg -hide_banner -nostdin -y \
  -f lavfi -i "testsrc2=size=640x360:rate=25:duration=60,drawtext=text='%{pts\:hms}':x=(w-tw)/2:y=h-th-16:fontsize=32:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=8" \
  -f lavfi -i "aevalsrc=exprs='0.2*sin(2*PI*(440+44*mod(floor(t),10))*t)':sample_rate=48000:duration=60" \
  -map 0:v -map 1:a -map_metadata -1 \
  -c:v libvpx-vp9 -pix_fmt yuv420p -b:v 200k -deadline good -cpu-used 2 -g 50 -keyint_min 50 -threads 1 -row-mt 0 \
  -c:a libopus -b:a 48k -vbr constrained \
  -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
  sample-vp9-opus.webm

# 2. sample-h264-aac.mp4: H.264 (Main) + AAC, same picture and sound, moov atom first.
ffmpeg -hide_banner -nostdin -y \
  -f lavfi -i "testsrc2=size=640x360:rate=25:duration=60,drawtext=text='%{pts\:hms}':x=(w-tw)/2:y=h-th-16:fontsize=32:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=8" \
  -f lavfi -i "aevalsrc=exprs='0.2*sin(2*PI*(440+44*mod(floor(t),10))*t)':sample_rate=48000:duration=60" \
  -map 0:v -map 1:a -map_metadata -1 \
  -c:v libx264 -preset medium -profile:v main -pix_fmt yuv420p -b:v 200k -maxrate 300k -bufsize 400k -g 50 -keyint_min 50 -sc_threshold 0 -threads 1 \
  -c:a aac -b:a 64k \
  -fflags +bitexact -flags:v +bitexact -flags:a +bitexact -movflags +faststart \
  sample-h264-aac.mp4

# 3. clips/sample-short.mp4: a small 10 s, 320x180 H.264 + AAC clip in a nested folder.
ffmpeg -hide_banner -nostdin -y \
  -f lavfi -i "testsrc2=size=320x180:rate=25:duration=10,drawtext=text='%{pts\:hms}':x=(w-tw)/2:y=h-th-8:fontsize=16:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=4" \
  -f lavfi -i "aevalsrc=exprs='0.2*sin(2*PI*(440+44*mod(floor(t),10))*t)':sample_rate=48000:duration=10" \
  -map 0:v -map 1:a -map_metadata -1 \
  -c:v libx264 -preset medium -profile:v main -pix_fmt yuv420p -b:v 100k -maxrate 150k -bufsize 200k -g 50 -keyint_min 50 -sc_threshold 0 -threads 1 \
  -c:a aac -b:a 48k \
  -fflags +bitexact -flags:v +bitexact -flags:a +bitexact -movflags +faststart \
  clips/sample-short.mp4

# 4. sample-vp9-opus.vtt: WebVTT subtitles for the webm, one cue every 5 s.
{
  printf 'WEBVTT\n'
  for ((start = 0; start < 60; start += 5)); do
    end=$((start + 5))
    printf '\n00:%02d:%02d.000 --> 00:%02d:%02d.000\n%02d:%02d - %02d:%02d\n' \
      $((start / 60)) $((start % 60)) $((end / 60)) $((end % 60)) \
      $((start / 60)) $((start % 60)) $((end / 60)) $((end % 60))
  done
} > sample-vp9-opus.vtt

ls -l sample-vp9-opus.webm sample-h264-aac.mp4 clips/sample-short.mp4 sample-vp9-opus.vtt

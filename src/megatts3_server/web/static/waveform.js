// The waveform of the synthesized audio on a <canvas>, with the played part shaded.

/** Per-column [min, max] of the samples, enough to draw at any width up to `columns`. */
export function computePeaks(samples, columns = 2000) {
  const count = Math.max(1, Math.min(columns, samples.length));
  const step = samples.length / count;
  const peaks = new Float32Array(count * 2);
  for (let column = 0; column < count; column += 1) {
    let low = 0;
    let high = 0;
    const end = Math.min(samples.length, Math.floor((column + 1) * step));
    for (let i = Math.floor(column * step); i < end; i += 1) {
      if (samples[i] < low) low = samples[i];
      if (samples[i] > high) high = samples[i];
    }
    peaks[column * 2] = low;
    peaks[column * 2 + 1] = high;
  }
  return peaks;
}

function cssColor(canvas, name, fallback) {
  return getComputedStyle(canvas).getPropertyValue(name).trim() || fallback;
}

/** Draw `peaks` across the canvas; columns left of `progress` (0–1) are drawn as played. */
export function drawWaveform(canvas, peaks, progress = 0) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, width, height);
  const columns = peaks.length / 2;
  if (!columns) return;
  // Scale to the loudest peak so quiet speech still fills the height.
  let loudest = 0.01;
  for (const value of peaks) loudest = Math.max(loudest, Math.abs(value));
  const middle = height / 2;
  const scale = (middle * 0.92) / loudest;
  const played = cssColor(canvas, "--wave-played", "#a5a0f5");
  const unplayed = cssColor(canvas, "--wave", "#4f46e5");
  const bar = Math.max(1, Math.round(ratio));
  for (let x = 0; x < width; x += bar) {
    const column = Math.min(columns - 1, Math.floor((x / width) * columns));
    const top = middle - peaks[column * 2 + 1] * scale;
    const bottom = middle - peaks[column * 2] * scale;
    context.fillStyle = x / width < progress ? played : unplayed;
    context.fillRect(x, top, bar, Math.max(bar, bottom - top));
  }
}

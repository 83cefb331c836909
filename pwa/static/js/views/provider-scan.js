// Reading a QR with the camera. Loaded only when the provider chooses to scan (after the
// explanation). BarcodeDetector where the browser has it; elsewhere the vendored qr-scanner
// (an ES module that loads its own worker), fetched only at that moment.

// Start the rear camera in `area`; call onResult(text) for each QR read. Returns {stop}.
// Throws the browser's error (NotAllowedError, NotFoundError, ...) when there is no camera.
export async function startScanner(area, { label, onResult }) {
  if (!navigator.mediaDevices?.getUserMedia) throw Object.assign(new Error("no camera"), { name: "NotFoundError" });
  const video = document.createElement("video");
  video.setAttribute("playsinline", "");
  video.setAttribute("aria-label", label);
  video.muted = true;
  video.className = "scan__video";
  if ("BarcodeDetector" in window) {
    const formats = await window.BarcodeDetector.getSupportedFormats?.() ?? ["qr_code"];
    if (formats.includes("qr_code")) return withDetector(area, video, onResult);
  }
  const { default: QrScanner } = await import("/vendor/qr-scanner.min.js");
  area.append(video);
  const scanner = new QrScanner(video, (result) => onResult(result.data ?? result), {
    preferredCamera: "environment", returnDetailedScanResult: true, highlightScanRegion: false,
  });
  try {
    await scanner.start();
  } catch (err) {
    scanner.destroy();
    video.remove();
    throw typeof err === "string" ? Object.assign(new Error(err), { name: "NotFoundError" }) : err;
  }
  return { stop: () => { scanner.stop(); scanner.destroy(); video.remove(); } };
}

async function withDetector(area, video, onResult) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
  video.srcObject = stream;
  area.append(video);
  await video.play();
  let running = true;
  const tick = async () => {
    if (!running) return;
    try {
      const codes = await detector.detect(video);
      if (codes.length && running) onResult(codes[0].rawValue);
    } catch { /* a frame that could not be read; try the next */ }
    if (running) setTimeout(tick, 250);
  };
  tick();
  return {
    stop: () => {
      running = false;
      for (const track of stream.getTracks()) track.stop();
      video.remove();
    },
  };
}

// Small helpers for what every part of the page shows: notices, errors and busy buttons.

/** A polite status line; `kind` is "", "success" or "error" (for styling only). */
export function showStatus(element, text, kind = "") {
  element.textContent = text;
  element.className = kind ? `notice ${kind}` : "notice";
}

/** An error line (role="alert"): hidden when `text` is empty. */
export function showError(element, text) {
  element.textContent = text ?? "";
  element.hidden = !text;
}

/** Disable a button while its work runs, with a label saying what is happening. */
export function setBusy(button, busy, busyLabel) {
  if (busy) {
    button.dataset.label ??= button.textContent;
    button.textContent = busyLabel;
  } else if (button.dataset.label !== undefined) {
    button.textContent = button.dataset.label;
    delete button.dataset.label;
  }
  button.disabled = busy;
  button.setAttribute("aria-busy", String(busy));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Seconds as "1.23 s", or "" when unknown. */
export const seconds = (value) => (value == null ? "" : `${value.toFixed(2)} s`);

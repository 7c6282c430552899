"use client";

interface Props {
  message: string;
  onRetry?: () => void;
  onDismiss: () => void;
}

/** An alert (announced when it appears) with Retry for the action that failed. */
export function ErrorBanner({ message, onRetry, onDismiss }: Props) {
  return (
    <div className="error" role="alert">
      <p className="error-text">{message}</p>
      <div className="error-actions">
        {onRetry && (
          <button type="button" className="retry" onClick={onRetry}>
            Retry
          </button>
        )}
        <button type="button" className="dismiss" onClick={onDismiss} aria-label="Dismiss the error">
          ×
        </button>
      </div>
    </div>
  );
}

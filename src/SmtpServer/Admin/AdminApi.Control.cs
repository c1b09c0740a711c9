using Microsoft.AspNetCore.Http;
using SmtpServer.Core.Admin;
using SmtpServer.Core.Queue;
using SmtpServer.Core.Scheduling;

namespace SmtpServer.Admin;

/// <summary>schedule, remove, pause and resume (envelopes, messages, the smtp/mda/mta sides), drain.</summary>
internal sealed partial class AdminApi
{
    // The side pauses as kept in the spool; one change at a time, so the file always holds the
    // last word of the operator.
    private readonly SemaphoreSlim _sidePauseLock = new(1, 1);
    private SidePauses _sidePauses = sidePauses;

    private async Task ControlAsync(HttpContext context, string verb)
    {
        var request = await ReadBodyAsync(context, AdminJsonContext.Default.TargetRequest).ConfigureAwait(false);
        if (request is null)
        {
            return;
        }

        var target = request.Target?.Trim() ?? string.Empty;
        var pausing = verb is "pause" or "resume";
        if (pausing && target is "smtp" or "mda" or "mta")
        {
            await PauseSideAsync(context, target, verb == "pause").ConfigureAwait(false);
            return;
        }

        if (!QueueSelector.TryParse(target, out var selector))
        {
            var expected = pausing ? "all, a message id, an envelope id, smtp, mda or mta" : "all, a message id or an envelope id";
            await WriteErrorAsync(context, 400, "bad-request", $"target '{Clip(target)}' is not {expected}").ConfigureAwait(false);
            return;
        }

        ControlResult result = default;
        var ok = await TrySchedulerAsync(context, async () => result = verb switch
        {
            "schedule" => await scheduler.ScheduleNowAsync(selector, context.RequestAborted).ConfigureAwait(false),
            "remove" => await scheduler.RemoveAsync(selector, context.RequestAborted).ConfigureAwait(false),
            _ => await scheduler.PauseAsync(selector, verb == "pause", context.RequestAborted).ConfigureAwait(false),
        }).ConfigureAwait(false);
        if (!ok)
        {
            return;
        }

        if (!selector.IsAll && result.Matched == 0 && result.Skipped == 0)
        {
            await WriteErrorAsync(context, 404, "not-found", $"{selector} is not in the queue").ConfigureAwait(false);
            return;
        }

        await WriteAsync(context, 200, new ControlResponse(selector.ToString(), result.Matched, result.Skipped), AdminJsonContext.Default.ControlResponse).ConfigureAwait(false);
    }

    /// <summary>
    /// pause|resume smtp|mda|mta: the spool's paused.json first (so a restart keeps it; a
    /// failed write changes nothing and is a 500), then the switch itself.
    /// </summary>
    private async Task PauseSideAsync(HttpContext context, string side, bool paused)
    {
        // Not the request's token: once the file is written, the switch must follow it.
        await _sidePauseLock.WaitAsync(context.RequestAborted).ConfigureAwait(false);
        try
        {
            var next = side switch
            {
                "smtp" => _sidePauses with { Smtp = paused },
                "mda" => _sidePauses with { Mda = paused },
                _ => _sidePauses with { Mta = paused },
            };
            await store.SaveSidePausesAsync(next, CancellationToken.None).ConfigureAwait(false);
            _sidePauses = next;
            if (side == "smtp")
            {
                control.SmtpPaused = paused;
            }
            else if (!await TrySchedulerAsync(context, () => scheduler.PauseSideAsync(side == "mda", paused, CancellationToken.None)).ConfigureAwait(false))
            {
                return;
            }
        }
        finally
        {
            _sidePauseLock.Release();
        }

        AdminLog.Paused(logger, side, paused ? "paused" : "resumed");
        await WriteAsync(context, 200, new ControlResponse(side, 1, 0), AdminJsonContext.Default.ControlResponse).ConfigureAwait(false);
    }

    /// <summary>
    /// smtpctl drain: intake closes at once (421), then the host stops exactly as on SIGTERM:
    /// sessions finish, the queue is tried once more, all within server.shutdownTimeout
    /// (SchedulerHostedService). The stop begins once this answer is sent.
    /// </summary>
    private async Task DrainAsync(HttpContext context)
    {
        if (control.StartDrain())
        {
            AdminLog.Drain(logger, startup.ShutdownTimeout);
            context.Response.OnCompleted(() =>
            {
                lifetime.StopApplication();
                return Task.CompletedTask;
            });
        }

        await WriteAsync(context, 202, Status(), AdminJsonContext.Default.StatusResponse).ConfigureAwait(false);
    }

    private static async Task<bool> TrySchedulerAsync(HttpContext context, Func<Task> call)
    {
        try
        {
            await call().ConfigureAwait(false);
            return true;
        }
        catch (InvalidOperationException e)
        {
            await WriteErrorAsync(context, 503, "unavailable", e.Message).ConfigureAwait(false);
            return false;
        }
    }
}

using Microsoft.AspNetCore.Http;
using SmtpServer.Core.Admin;
using SmtpServer.Core.Scheduling;

namespace SmtpServer.Admin;

/// <summary>schedule, remove, pause and resume (envelopes, messages, the smtp/mda/mta sides), drain.</summary>
internal sealed partial class AdminApi
{
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
            var paused = verb == "pause";
            if (target == "smtp")
            {
                control.SmtpPaused = paused;
            }
            else if (!await TrySchedulerAsync(context, () => scheduler.PauseSideAsync(target == "mda", paused, context.RequestAborted)).ConfigureAwait(false))
            {
                return;
            }

            AdminLog.Paused(logger, target, paused ? "paused" : "resumed");
            await WriteAsync(context, 200, new ControlResponse(target, 1, 0), AdminJsonContext.Default.ControlResponse).ConfigureAwait(false);
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

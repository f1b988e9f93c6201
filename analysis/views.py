"""Pages over analysis: which layer encodes what (probe runs), and the jobs at work."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import TemplateView

from analysis import jobs, layer_discovery
from analysis.models import ExtractionJob, JobStatus, ProbeRun
from analysis.services import RetryRefused, active_space, restart_stale_job, retry_extraction, run_probe_again
from messsite.api_errors import json_error


class LayerDiscoveryView(TemplateView):
    """Which layer encodes what: a probe run's R² heatmap (?run=ID; by default the newest
    that succeeded) and the active space's aspect map."""

    template_name = "analysis/layers.html"

    def get_context_data(self, **kwargs):
        space = active_space()
        content = layer_discovery.page(space, self.request.GET) if space else {}
        return super().get_context_data(active_space=space, **content, **kwargs)


class JobsView(LoginRequiredMixin, TemplateView):
    """Extraction jobs (newest first, paged) and probe runs, filtered by status; the
    page's script keeps active rows up to date from JobsStatusView."""

    template_name = "analysis/jobs.html"

    def get_context_data(self, **kwargs):
        status = jobs.status_filter(self.request.GET.get("status", ""))
        page = Paginator(jobs.extraction_jobs(status), jobs.JOBS_PER_PAGE).get_page(self.request.GET.get("page"))
        user = self.request.user
        return super().get_context_data(
            board=jobs.board(page.object_list, jobs.probe_runs(status)[: jobs.PROBE_RUNS_SHOWN], status),
            page_obj=page,
            status=status,
            status_choices=JobStatus.choices,
            can_retry_extraction=jobs.can_retry_extraction(user),
            can_run_probe_again=jobs.can_run_probe_again(user),
            **kwargs,
        )


class JobsStatusView(LoginRequiredMixin, View):
    """GET ?job=ID&job=ID&probe=ID[&status=S]: those rows as they are now, whether any is
    still active, and the summary of every job under the page's status filter."""

    raise_exception = True  # asked by a script: a 403, not the login page

    def get(self, request):
        try:
            job_ids, run_ids = jobs.ids(request.GET.getlist("job")), jobs.ids(request.GET.getlist("probe"))
        except ValueError as exc:
            return json_error(400, "invalid", str(exc))
        status = jobs.status_filter(request.GET.get("status", ""))
        return JsonResponse(jobs.current_board(job_ids, run_ids, status))


class StartAgainView(UserPassesTestMixin, View):
    """POST: start a job again, then back to the jobs page saying what happened."""

    http_method_names = ["post"]
    queryset = None
    allowed = None  # a function of the user

    def test_func(self):
        return self.allowed(self.request.user)

    def start_again(self, item, user):
        """Queue the new job and return what to tell the curator; RetryRefused says why not."""
        raise NotImplementedError

    def post(self, request, pk):
        item = get_object_or_404(self.queryset, pk=pk)
        try:
            messages.success(request, self.start_again(item, request.user))
        except RetryRefused as exc:
            messages.error(request, str(exc))
        back = request.POST.get("next", "")
        if url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
            return redirect(back)
        return redirect("analysis:jobs")


class RetryExtractionView(StartAgainView):
    queryset = ExtractionJob.objects.select_related("track")
    allowed = staticmethod(jobs.can_retry_extraction)

    def start_again(self, job, user):
        retry = retry_extraction(job)
        return f"Extraction of “{job.track}” queued again as job {retry.pk}."


class RunProbeAgainView(StartAgainView):
    queryset = ProbeRun.objects.select_related("space", "dataset")
    allowed = staticmethod(jobs.can_run_probe_again)

    def start_again(self, run, user):
        again = run_probe_again(run, user)
        return f"Probe run {run.pk} started again as run {again.pk}."


class RestartStaleJobView(StartAgainView):
    """POST: put back in the queue a running job whose worker is gone (killed mid-track);
    refused, with the reason, while its worker still reports."""

    queryset = ExtractionJob.objects.select_related("track")
    allowed = staticmethod(jobs.can_request_extraction)

    def start_again(self, job, user):
        restart_stale_job(job)
        return f"Extraction job {job.pk} of “{job.track}” restarted: it is queued again."

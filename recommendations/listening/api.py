"""API v1 over listening: radio (stateless, or a session kept in Redis) and paths."""

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Track
from messsite.api_errors import error_responses
from recommendations.api import query_values, refusals
from recommendations.listening.paths import track_path
from recommendations.listening.radio import new_random_seed
from recommendations.listening.rules import CAP_FIELDS, Caps
from recommendations.listening.serializers import (
    PathQuerySerializer,
    RadioNextSerializer,
    RadioQuerySerializer,
    RadioSerializer,
    RadioSessionResultsSerializer,
    RadioSessionSerializer,
    RadioStartSerializer,
    TrackPathSerializer,
)
from recommendations.listening.sessions import advance, get_session, radio_for, start_session

RADIO_ERRORS = error_responses(400, 404)


class RadioView(APIView):
    @extend_schema(
        operation_id="radio",
        summary="Radio from a track, a passage or a clip",
        description="The next count tracks of an endless radio by aspect, layer or mix, after the tracks the client "
        "has played: never one of those again, nor a copy of their recordings, within the caps per composer, work, "
        "album and dataset. Stateless: send what was played; the same request and seed give the same tracks.",
        parameters=[RadioQuerySerializer],
        responses={200: RadioSerializer, **RADIO_ERRORS},
    )
    def get(self, request):
        params = RadioQuerySerializer(data=query_values(request))
        params.is_valid(raise_exception=True)
        parameters = {**params.validated_data}
        count, played = parameters.pop("count"), parameters.pop("played")
        parameters.setdefault("random_seed", new_random_seed())
        with refusals():
            found = radio_for(parameters, user=request.user, played=played, count=count)
        return Response(RadioSerializer(found, context={"request": request}).data)

    @extend_schema(
        operation_id="radio_start",
        summary="Start a radio session",
        description="As GET, with the parameters in a JSON body; the server keeps what it has played, for "
        "MESS_RADIO_SESSION_SECONDS after the session's last use. Returns its first count tracks and where to ask for "
        "more. A signed-in user's session is theirs alone; an anonymous one is anyone's who holds its id.",
        request=RadioStartSerializer,
        responses={201: RadioSessionResultsSerializer, **RADIO_ERRORS},
    )
    def post(self, request):
        params = RadioStartSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        parameters = {**params.validated_data}
        count = parameters.pop("count")
        with refusals():
            session, found = start_session(parameters, user=request.user, count=count)
        context = {"request": request, "session": session}
        return Response(RadioSessionResultsSerializer(found, context=context).data, status=status.HTTP_201_CREATED)


class RadioSessionView(APIView):
    @extend_schema(
        operation_id="radio_session",
        summary="A radio session",
        description="Its parameters, the tracks it has played and when it expires. 404 once expired, and for "
        "another user's session.",
        responses={200: RadioSessionSerializer, **error_responses(404)},
    )
    def get(self, request, session_id):
        session = _session(request, session_id)
        context = {"request": request, "session": session}
        return Response(RadioSessionSerializer(session, context=context).data)


class RadioNextView(APIView):
    @extend_schema(
        operation_id="radio_next",
        summary="The next tracks of a radio session",
        description="The next count tracks, recorded as played (so never served again by this session); using the "
        "session renews its expiry. 404 once expired, and for another user's session.",
        request=RadioNextSerializer,
        responses={200: RadioSessionResultsSerializer, **RADIO_ERRORS},
    )
    def post(self, request, session_id):
        session = _session(request, session_id)
        params = RadioNextSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        with refusals():
            found = advance(session, user=request.user, count=params.validated_data["count"])
        context = {"request": request, "session": session}
        return Response(RadioSessionResultsSerializer(found, context=context).data)


class PathView(APIView):
    @extend_schema(
        operation_id="paths",
        summary="A path between two tracks",
        description="steps tracks that ease from start to end by aspect, layer or mix: step i is the track "
        "nearest the point i / (steps + 1) of the way (per layer, the spherical interpolation of the ends), under "
        "the radio's rules (no repeats, no copies of a recording, the caps; never start or end). Each step says "
        "how similar it is to both ends and to its target.",
        parameters=[PathQuerySerializer],
        responses={200: TrackPathSerializer, **RADIO_ERRORS},
    )
    def get(self, request):
        params = PathQuerySerializer(data=query_values(request))
        params.is_valid(raise_exception=True)
        options = {**params.validated_data}
        ends = [get_object_or_404(Track.objects.select_related("dataset"), pk=options.pop(name))
                for name in ("start", "end")]
        caps = Caps.of(options)
        options = {name: value for name, value in options.items() if name not in CAP_FIELDS}
        with refusals():
            found = track_path(*ends, caps=caps, **options)
        return Response(TrackPathSerializer(found, context={"request": request}).data)


def _session(request, session_id):
    session = get_session(session_id, request.user)
    if session is None:
        raise Http404("No such radio session: it expired, or it is not yours.")
    return session
